"""A local HTTP server speaking Grafana's annotations API: ``POST /api/annotations`` answers
``{"message": "Annotation added", "id": <n>}``, ``PATCH /api/annotations/<id>`` ``{"message": "Annotation
patched"}`` (404 ``{"message": "Could not find annotation to update"}`` for an unknown id), both behind a Bearer
service-account token (401 ``{"message": "invalid API key"}``). ``failures`` makes the next requests answer a
status (a 503 outage, a 429 with ``Retry-After``)."""

from __future__ import annotations

import json
import re
import threading
from typing import Any

from tests.integrations.vendor_http import JsonHandler, LocalServer

TOKEN = "glsa_test_0123456789abcdef"


class FakeGrafana(LocalServer):
    def __init__(self) -> None:
        self.annotations: dict[int, dict[str, Any]] = {}
        self.requests: list[tuple[str, str, dict[str, Any]]] = []  # (method, path, body)
        self.failures: list[tuple[int, dict[str, str]]] = []
        self.token = TOKEN
        self.lock = threading.Lock()
        fake = self

        class Handler(JsonHandler):
            def _body(self) -> dict[str, Any]:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                return json.loads(raw or b"{}")

            def _gate(self, method: str) -> dict[str, Any] | None:
                body = self._body()
                with fake.lock:
                    fake.requests.append((method, self.path, body))
                    if self.headers.get("Authorization") != f"Bearer {fake.token}":
                        self._send(401, {"message": "invalid API key"})
                        return None
                    if fake.failures:
                        status, headers = fake.failures.pop(0)
                        self._send(status, {"message": "Service Unavailable"}, headers)
                        return None
                return body

            def do_POST(self) -> None:  # noqa: N802
                body = self._gate("POST")
                if body is None:
                    return None
                if self.path != "/api/annotations":
                    return self._send(404, {"message": "Not found"})
                with fake.lock:
                    new_id = len(fake.annotations) + 1
                    fake.annotations[new_id] = body
                return self._send(200, {"message": "Annotation added", "id": new_id})

            def do_PATCH(self) -> None:  # noqa: N802
                body = self._gate("PATCH")
                if body is None:
                    return None
                match = re.fullmatch(r"/api/annotations/(\d+)", self.path)
                if match is None or int(match.group(1)) not in fake.annotations:
                    return self._send(404, {"message": "Could not find annotation to update"})
                with fake.lock:
                    fake.annotations[int(match.group(1))].update(body)
                return self._send(200, {"message": "Annotation patched"})

        self.serve(Handler)

    def methods(self) -> list[str]:
        return [m for m, _, _ in self.requests]
