"""The LaunchDarkly audit-log poller against a local server speaking ``/api/v2/auditlog``."""

from __future__ import annotations

import copy
import json
import re
import threading
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from changetrack.models import Change, Watermark
from integrations.launchdarkly import tasks as ld_tasks
from tests.integrations.hooks import fixture

pytestmark = pytest.mark.django_db
TOKEN = "api-0123-test"
NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
NOW_MS = int(NOW.timestamp() * 1000)


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

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

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

            def _send(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def add(self, n: int, at_ms: int, kind: str = "flag") -> str:
        entry = copy.deepcopy(fixture("launchdarkly", "flag_updated_on" if kind == "flag" else "member_invited"))
        entry["_id"] = f"{n:024x}"
        entry["date"] = at_ms
        self.entries.append(entry)
        return entry["_id"]


@pytest.fixture
def fake():
    server = FakeAuditLog()
    yield server
    server.released.set()
    server.server.shutdown()
    server.server.server_close()


@pytest.fixture
def conn(connection_factory, fake):
    return connection_factory(
        "launchdarkly", clear={"signing_secret": "ld-secret", "api_token": TOKEN}, config={"api_url": fake.url}
    )


def poll(conn, now=NOW, **options):
    return ld_tasks.poll_connection(conn, now=now, backoff=0, **options)


def state(conn) -> dict:
    return json.loads(Watermark.objects.get(key=f"launchdarkly:{conn.pk}").value)


def test_a_poll_pages_through_the_log_and_fetches_each_flag_entry_in_full(conn, fake):
    ids = [fake.add(n, NOW_MS - n * 60_000) for n in range(1, 46)]  # 45 entries: three pages of 20
    fake.add(99, NOW_MS - 30 * 60_000 - 1, kind="member")
    summary = poll(conn)
    assert summary["records"] == 45 and summary["pages"] == 3
    assert Change.objects.filter(source="launchdarkly").count() == 45
    change = Change.objects.get(external_id=ids[0])
    assert change.diff == [
        {"path": "environments.production.on", "before": False, "after": True}
    ]  # from the full entry
    assert all("limit=20" in p for p in fake.requests if p.startswith("/api/v2/auditlog?"))
    assert state(conn) == {"after": NOW_MS - 60_000}


def test_the_next_poll_stops_at_the_watermark(conn, fake):
    fake.add(1, NOW_MS - 60_000)
    poll(conn)
    fake.requests.clear()
    new_id = fake.add(2, NOW_MS + 60_000)
    summary = poll(conn, now=NOW + timedelta(minutes=5))
    assert summary["records"] == 1 and Change.objects.filter(external_id=new_id).exists()
    assert [p for p in fake.requests if "/auditlog/" in p] == [f"/api/v2/auditlog/{new_id}"]
    assert state(conn)["after"] == NOW_MS + 60_000


def test_a_429_stops_the_poll_and_it_resumes_after_the_reset_without_a_gap(conn, fake):
    ids = [fake.add(n, NOW_MS - n * 60_000) for n in range(1, 31)]
    reset_ms = NOW_MS + 90_000
    fake.failures.append([r"before=", 429, {"X-Ratelimit-Reset": str(reset_ms)}, 1])  # the second page
    summary = poll(conn)
    assert summary["resume_after"] == datetime.fromtimestamp(reset_ms / 1000, UTC).isoformat()
    assert summary["records"] == 20  # the first page is stored
    first_after = state(conn)["after"]
    assert first_after == NOW_MS - 86_400_000  # unchanged: the walk did not reach it
    fake.requests.clear()
    assert poll(conn, now=NOW + timedelta(seconds=30))["skipped"] == "rate limited" and fake.requests == []
    summary = poll(conn, now=NOW + timedelta(minutes=2))
    assert "resume_after" not in summary
    assert set(Change.objects.filter(source="launchdarkly").values_list("external_id", flat=True)) == set(ids)
    assert state(conn) == {"after": NOW_MS - 60_000}


def test_server_errors_are_retried(conn, fake):
    entry_id = fake.add(1, NOW_MS - 60_000)
    fake.failures.append([r"/auditlog/", 503, {}, 2])
    summary = poll(conn)
    assert summary["records"] == 1 and Change.objects.filter(external_id=entry_id).exists()
    assert len([p for p in fake.requests if "/auditlog/" in p]) == 3


def test_a_lasting_outage_keeps_the_watermark(conn, fake):
    fake.add(1, NOW_MS - 60_000)
    fake.failures.append([r"auditlog", 502, {}, 100])
    summary = poll(conn)
    assert summary["resume_after"] == (NOW + timedelta(minutes=1)).isoformat()
    assert state(conn)["after"] == NOW_MS - 86_400_000 and Change.objects.count() == 0


def test_the_token_is_sent_raw_and_a_rejected_token_is_reported(connection_factory, fake):
    bad = connection_factory("launchdarkly", clear={"api_token": "wrong"}, config={"api_url": fake.url}, name="bad")
    summary = ld_tasks.poll_connection(bad, now=NOW, backoff=0)
    assert "401" in summary["error"] and Change.objects.count() == 0


def test_an_odd_entry_is_skipped_and_does_not_stall_the_poll(conn, fake):
    good = fake.add(1, NOW_MS - 60_000)
    odd = fake.add(2, NOW_MS - 120_000)
    next(e for e in fake.entries if e["_id"] == odd)["accesses"] = []
    summary = poll(conn)
    assert summary["records"] == 1 and summary["skipped"][0].startswith(odd)
    assert Change.objects.filter(external_id=good).exists() and state(conn)["after"] == NOW_MS - 60_000


def test_without_a_next_link_a_full_page_continues_before_its_oldest_entry(conn, fake):
    fake.omit_next = True
    ids = [fake.add(n, NOW_MS - n * 60_000) for n in range(1, 26)]
    summary = poll(conn)
    assert summary["records"] == 25 and summary["pages"] == 2
    assert set(Change.objects.values_list("external_id", flat=True)) == set(ids)


def _ids() -> list[str]:
    return list(Change.objects.filter(source="launchdarkly").values_list("external_id", flat=True))


def test_a_5xx_outage_longer_than_the_retries_keeps_the_watermark_and_the_poll_after_recovery_has_no_gap(conn, fake):
    first = [fake.add(n, NOW_MS - n * 60_000) for n in (1, 2)]
    poll(conn)
    assert state(conn) == {"after": NOW_MS - 60_000}
    new = [fake.add(n, NOW_MS + n * 1_000) for n in range(10, 35)]  # 25 new entries: two pages
    for status in (500, 502, 503):  # six failures of the second page: more than the first try and three retries
        fake.failures.append([r"before=", status, {}, 2])
    during = NOW + timedelta(minutes=5)
    summary = poll(conn, now=during)
    assert summary["resume_after"] == (during + timedelta(minutes=1)).isoformat()
    assert summary["records"] == 20  # the first page is stored
    assert state(conn)["after"] == NOW_MS - 60_000  # the walk did not reach the old watermark
    fake.failures.clear()  # LaunchDarkly recovers
    summary = poll(conn, now=during + timedelta(minutes=2))
    assert "error" not in summary
    ids = _ids()
    assert set(ids) == set(first + new) and len(ids) == len(set(ids))  # nothing missing, nothing twice
    assert state(conn) == {"after": NOW_MS + 34_000}


def _finishes_within(seconds: float, call):
    """Run ``call`` in a thread; fail if it is still running after ``seconds`` (a hang, not a slow run)."""
    from django.db import connection

    out: dict = {}

    def target():
        try:
            out["value"] = call()
        finally:
            connection.close()  # this thread's database connection

    worker = threading.Thread(target=target, daemon=True)
    worker.start()
    worker.join(seconds)
    assert not worker.is_alive(), f"still running after {seconds} s"
    assert "value" in out, "the call raised"
    return out["value"]


@pytest.mark.django_db(transaction=True)  # the poll runs in another thread: it must see committed rows
def test_a_server_that_stops_answering_ends_the_poll_and_the_next_poll_resumes_without_a_gap(conn, fake):
    first = fake.add(1, NOW_MS - 60_000)
    poll(conn)
    new = [fake.add(n, NOW_MS + n * 1_000) for n in range(10, 35)]
    fake.stalls.append([r"before=", 100])  # the second page: accepted, never answered
    during = NOW + timedelta(minutes=5)
    summary = _finishes_within(30, lambda: poll(conn, now=during, timeout=1))
    assert summary["resume_after"] == (during + timedelta(minutes=1)).isoformat()
    assert "unreachable" in summary["error"]
    assert state(conn)["after"] == NOW_MS - 60_000
    fake.stalls.clear()
    fake.released.set()  # the server answers again
    summary = _finishes_within(30, lambda: poll(conn, now=during + timedelta(minutes=2), timeout=1))
    assert "error" not in summary
    ids = _ids()
    assert set(ids) == {first, *new} and len(ids) == len(set(ids))
    assert state(conn) == {"after": NOW_MS + 34_000}
