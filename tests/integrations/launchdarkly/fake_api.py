"""A local HTTP server speaking LaunchDarkly's ``/api/v2/auditlog`` (list, newest first, ``before``/``after``
cursors, 20 per page at most) and ``/api/v2/auditlog/{id}`` (one entry in full)."""

from __future__ import annotations

import copy
import re
import threading
from http.server import ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.integrations.helpers import fixture_json as fixture
from tests.integrations.vendor_http import JsonHandler

TOKEN = "api-0123-test"


class FakeAuditLog:
    """Entries newest first; list items omit delta/previousVersion/currentVersion like the real API."""

    def __init__(self) -> None:
        self.entries: list[dict[str, Any]] = []
        self.failures: list[list[Any]] = []  # [pattern, status, headers, times]
        self.requests: list[str] = []
        self.stalls: list[list[Any]] = []  # [pattern, times]: accepted, read, never answered until released
        self.released = threading.Event()
        self.omit_next = False
        fake = self

        class Handler(JsonHandler):
            def do_GET(self) -> None:  # noqa: N802
                fake.requests.append(self.path)
                for stall in fake.stalls:
                    if stall[1] > 0 and re.search(stall[0], self.path):
                        stall[1] -= 1
                        fake.released.wait(60)  # bounded so a broken test cannot hang the server thread forever
                        self.close_connection = True
                        return None
                if self.headers.get("Authorization") != TOKEN:
                    return self._send(401, {"code": "unauthorized", "message": "invalid token"})
                for failure in fake.failures:
                    if failure[3] > 0 and re.search(failure[0], self.path):
                        failure[3] -= 1
                        return self._send(failure[1], {"code": "error", "message": "failure"}, failure[2])
                parts = urlsplit(self.path)
                query = {k: v[0] for k, v in parse_qs(parts.query).items()}
                one = re.fullmatch(r"/api/v2/auditlog/([0-9a-f]+)", parts.path)
                if one:
                    found = [e for e in fake.entries if e["_id"] == one.group(1)]
                    return (
                        self._send(200, found[0])
                        if found
                        else self._send(404, {"code": "not_found", "message": "Not Found"})
                    )
                if parts.path != "/api/v2/auditlog":
                    return self._send(404, {"code": "not_found", "message": "Not Found"})
                limit = int(query.get("limit", 10))
                if not 1 <= limit <= 20:
                    return self._send(400, {"code": "invalid_request", "message": "limit must be between 1 and 20"})
                before, after = int(query.get("before", 10**15)), int(query.get("after", 0))
                matching = sorted((e for e in fake.entries if after < e["date"] < before), key=lambda e: -e["date"])
                page = matching[:limit]
                items = [
                    {k: v for k, v in e.items() if k not in {"delta", "previousVersion", "currentVersion"}}
                    for e in page
                ]
                links: dict[str, Any] = {"self": {"href": self.path, "type": "application/json"}}
                if len(matching) > limit and not fake.omit_next:
                    links["next"] = {
                        "href": f"/api/v2/auditlog?before={page[-1]['date']}&limit={limit}&after={after}",
                        "type": "application/json",
                    }
                self._send(200, {"items": items, "_links": links, "totalCount": len(matching)})

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def add(self, n: int, at_ms: int, kind: str = "flag") -> str:
        entry = copy.deepcopy(
            fixture("launchdarkly", "flag_updated_on" if kind == "flag" else "member_invited_unsupported")
        )
        entry["_id"] = f"{n:024x}"
        entry["date"] = at_ms
        self.entries.append(entry)
        return entry["_id"]
