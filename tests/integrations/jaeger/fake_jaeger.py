"""A local HTTP server speaking the Jaeger query service's ``GET /api/dependencies?endTs=&lookback=`` (the answer
its UI's System Architecture page reads: ``{"data": [{"parent", "child", "callCount"}], "total", "limit",
"offset", "errors"}``); ``endTs`` and ``lookback`` are required integers, as in Jaeger."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.integrations.vendor_http import JsonHandler, LocalServer


class FakeJaeger(LocalServer):
    def __init__(self) -> None:
        self.links: list[dict[str, Any]] = []
        self.requests: list[dict[str, str]] = []
        self.failures: list[int] = []
        fake = self

        class Handler(JsonHandler):
            def do_GET(self) -> None:  # noqa: N802
                parts = urlsplit(self.path)
                query = {k: v[0] for k, v in parse_qs(parts.query).items()}
                fake.requests.append(query)
                if fake.failures:
                    status = fake.failures.pop(0)
                    return self._send(status, {"data": None, "errors": [{"code": status, "msg": "unavailable"}]})
                if parts.path != "/api/dependencies":
                    return self._send(404, {"data": None, "errors": [{"code": 404, "msg": "not found"}]})
                for name in ("endTs", "lookback"):
                    if not query.get(name, "").isdigit():
                        error = {"code": 400, "msg": f"unable to parse param '{name}'"}
                        return self._send(400, {"data": None, "total": 0, "limit": 0, "offset": 0, "errors": [error]})
                body = {"data": fake.links, "total": len(fake.links or []), "limit": 0, "offset": 0, "errors": None}
                return self._send(200, body)

        self.serve(Handler)
