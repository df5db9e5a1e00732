"""A local HTTP server speaking the Datadog Events API v2 (``GET /api/v2/events``) wire format."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

from tests.integrations.vendor_http import JsonHandler

API_KEY = "dd-api-key-test"
APP_KEY = "dd-app-key-test"


def event(event_id: str, at: str, title: str, tags: list[str], message: str = "") -> dict[str, Any]:
    return {
        "id": event_id,
        "type": "event",
        "attributes": {
            "timestamp": at,
            "tags": tags,
            "message": message or f"%%% \n{title}\n %%%",
            "attributes": {"title": title, "evt": {"id": event_id, "source_id": 1}, "priority": "normal"},
        },
    }


class FakeDatadog:
    """Events sorted by time; ``failures`` is a queue of (status, headers) answered before normal pages;
    ``later_page_failures`` the same for requests with a ``page[cursor]`` only (the second page on); while
    ``stall_later_pages`` is set such requests are read and never answered until ``released`` is set."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self.failures: list[tuple[int, dict[str, str]]] = []
        self.later_page_failures: list[tuple[int, dict[str, str]]] = []
        self.stall_later_pages = False
        self.released = threading.Event()
        self.requests: list[dict[str, Any]] = []
        self.lock = threading.Lock()

    def page(self, params: dict[str, str]) -> dict[str, Any]:
        since = int(params.get("filter[from]", "0"))
        limit = int(params.get("page[limit]", "10"))
        start = int(params.get("page[cursor]", "0") or 0)
        selected = [
            e
            for e in sorted(self.events, key=lambda e: e["attributes"]["timestamp"])
            if datetime.fromisoformat(e["attributes"]["timestamp"].replace("Z", "+00:00")).timestamp() * 1000 >= since
        ]
        chunk = selected[start : start + limit]
        more = start + limit < len(selected)
        meta: dict[str, Any] = {"page": {"after": str(start + limit)} if more else {}, "status": "done", "elapsed": 3}
        body = {"data": chunk, "meta": meta}
        if more:
            body["links"] = {"next": f"/api/v2/events?page[cursor]={start + limit}"}
        return body


def _handler(fake: FakeDatadog) -> type[BaseHTTPRequestHandler]:
    class Handler(JsonHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server naming
            url = urlparse(self.path)
            params = {k: v[0] for k, v in parse_qs(url.query).items()}
            with fake.lock:
                fake.requests.append(
                    {
                        "path": url.path,
                        "params": params,
                        "api_key": self.headers.get("DD-API-KEY"),
                        "app_key": self.headers.get("DD-APPLICATION-KEY"),
                    }
                )
                failure = fake.failures.pop(0) if fake.failures else None
                later = "page[cursor]" in params
                if failure is None and later and fake.later_page_failures:
                    failure = fake.later_page_failures.pop(0)
            if later and fake.stall_later_pages and failure is None:
                fake.released.wait(60)  # bounded so a broken test cannot hang the server thread forever
                self.close_connection = True
                return None
            if url.path != "/api/v2/events":
                return self._send(404, {"errors": ["Not found"]})
            if self.headers.get("DD-API-KEY") != API_KEY or self.headers.get("DD-APPLICATION-KEY") != APP_KEY:
                return self._send(403, {"errors": ["Forbidden"]})
            if failure:
                status, headers = failure
                return self._send(
                    status, {"errors": ["Too many requests" if status == 429 else "Internal error"]}, headers
                )
            with fake.lock:
                body = fake.page(params)
            self._send(200, body)

    return Handler


@contextmanager
def serve() -> Iterator[tuple[FakeDatadog, str]]:
    fake = FakeDatadog()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(fake))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield fake, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        fake.released.set()  # stalled handler threads end
        server.shutdown()
        server.server_close()
