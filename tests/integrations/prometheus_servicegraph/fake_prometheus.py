"""A local HTTP server speaking Prometheus' ``GET /api/v1/query`` for the service-graph counters: it evaluates
only the two queries the integration sends (``sum by (client, server, connection_type) (increase(<counter>[<w>]))``)
over the series it holds, answers ``status: error`` (400, ``bad_data``) for any other query, and can be told to
fail (a 503, a 401 without the token) like a real server behind a proxy."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

from tests.integrations.vendor_http import JsonHandler, LocalServer

QUERY = re.compile(
    r"sum by \(client, server, connection_type\) \(increase\((?P<metric>[a-zA-Z_:][a-zA-Z0-9_:]*)\[(?P<window>\d+s)\]\)\)"
)


class FakePrometheus(LocalServer):
    """``series[metric]`` holds ((client, server, connection_type), value) pairs; ``requests`` the queries."""

    def __init__(self, token: str = "") -> None:
        self.series: dict[str, list[tuple[tuple[str, str, str], float | str]]] = {}
        self.requests: list[dict[str, str]] = []
        self.failures: list[int] = []  # statuses answered (one each) before the next real answer
        self.token = token
        self.refuse = ""  # an execution error to answer (422), as Prometheus does past its sample limit
        fake = self

        class Handler(JsonHandler):
            def do_GET(self) -> None:  # noqa: N802
                parts = urlsplit(self.path)
                query = {k: v[0] for k, v in parse_qs(parts.query).items()}
                fake.requests.append(query)
                if fake.token and self.headers.get("Authorization") != f"Bearer {fake.token}":
                    return self._send(401, {"status": "error", "errorType": "unauthorized", "error": "no token"})
                if fake.failures:
                    status = fake.failures.pop(0)
                    return self._send(status, {"status": "error", "errorType": "unavailable", "error": "down"})
                if parts.path != "/api/v1/query":
                    return self._send(404, {"status": "error", "errorType": "not_found", "error": "404"})
                if fake.refuse:
                    return self._send(422, {"status": "error", "errorType": "execution", "error": fake.refuse})
                match = QUERY.fullmatch(query.get("query", ""))
                if match is None:
                    error = f"1:1: parse error: unexpected query {query.get('query', '')[:40]!r}"
                    return self._send(400, {"status": "error", "errorType": "bad_data", "error": error})
                result = [
                    {
                        "metric": {"client": c, "server": s, **({"connection_type": t} if t else {})},
                        "value": [float(query.get("time", "0")), str(v)],
                    }
                    for (c, s, t), v in fake.series.get(match.group("metric"), [])
                ]
                return self._send(200, {"status": "success", "data": {"resultType": "vector", "result": result}})

        self.serve(Handler)

    def add(
        self,
        client: str,
        server: str,
        calls: float | str,
        failed: float = 0,
        kind: str = "",
        prefix: str = "traces_service_graph",
    ) -> None:
        self.series.setdefault(f"{prefix}_request_total", []).append(((client, server, kind), calls))
        if failed:
            self.series.setdefault(f"{prefix}_request_failed_total", []).append(((client, server, kind), failed))
