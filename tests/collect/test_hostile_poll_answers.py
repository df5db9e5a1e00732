"""A source that answers a poll with what is not JSON or cannot be stored as a whole (NaN, ``1e400``, nesting
deeper than anything real, a number too long to read, invalid UTF-8, HTML) ends the poll with a clean error on its
``PollState``, as a webhook body of the same bytes would get a 400: no crash, nothing stored. Each source is a
local HTTP server answering every request with the same bytes, polled by the real runner. (A NUL in one event
leaves out only that event's record: ``test_polling_runner``.)"""

from __future__ import annotations

from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler
from typing import Any

import pytest

from changetrack.collect import polling
from changetrack.models import Change, Dependency, PollState
from tests.integrations.vendor_http import LocalServer

pytestmark = pytest.mark.django_db
NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)

HOSTILE = {
    "deep nesting": b'{"data": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
    "nesting past the storable depth": b'{"data": ' + b"[" * 300 + b"]" * 300 + b"}",
    "NaN": b'{"data": [{"id": "1", "value": NaN}]}',
    "an overflowing float": b'{"data": [{"id": "1", "value": 1e400}]}',
    "a number too long to read": b'{"data": [{"id": "1", "value": ' + b"9" * 5000 + b"}]}",
    "invalid UTF-8": b'{"data": ["\xff\xfe"]}',
    "no JSON": b"<html>proxy error</html>",
}


class RawServer(LocalServer):
    """Answers every request with ``status`` and ``body`` as given, whatever was asked."""

    def __init__(self, status: int, body: bytes) -> None:
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                self.send_response(outer.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(outer.body)))
                self.end_headers()
                self.wfile.write(outer.body)

        self.status, self.body = status, body
        self.serve(Handler)


def poll(conn: Any) -> polling.RunSummary:
    return polling.poll_connection(conn, now=NOW, session=polling.retrying_session(backoff=0, timeout=10))


@pytest.mark.parametrize("body", HOSTILE.values(), ids=HOSTILE.keys())
def test_a_hostile_answer_to_a_poll_is_a_clean_poll_error(body, connection_factory, redis_client):
    with RawServer(200, body) as server:
        conn = connection_factory(
            "datadog",
            clear={"api_key": "k", "app_key": "a"},
            config={"events_query": "tags:deploy", "site": server.url, "events_lookback_minutes": 60},
        )
        summary = poll(conn)
    assert summary.outcome == "polled" and summary.records == 0
    assert summary.error.startswith("Datadog answered with a body that cannot be read"), summary.error
    row = PollState.objects.get(connection=conn)
    assert row.last_error == summary.error and row.last_success_at is None
    assert not Change.objects.exists()


@pytest.mark.parametrize("body", [HOSTILE["deep nesting"], HOSTILE["NaN"]], ids=["deep nesting", "NaN"])
def test_a_hostile_explanation_of_a_refused_prometheus_query_is_a_clean_poll_error(
    body, connection_factory, redis_client
):
    with RawServer(400, body) as server:
        conn = connection_factory("prometheus-servicegraph", config={"url": server.url})
        summary = poll(conn)
    assert summary.outcome == "polled" and "Prometheus answered 400" in summary.error, summary.error
    assert PollState.objects.get(connection=conn).last_error == summary.error
    assert not Dependency.objects.exists()
