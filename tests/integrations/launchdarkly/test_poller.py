"""The LaunchDarkly audit-log poll against a local server speaking ``/api/v2/auditlog``: paging, the ``after``
watermark, full entries, 429 headers. Lock, retries, outages and kills: ``tests/collect/test_polling_runner.py``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from changetrack.collect import polling
from changetrack.models import Change, PollState
from integrations.base import RateLimited
from integrations.launchdarkly import LaunchDarklyIntegration
from tests.integrations.launchdarkly.fake_api import TOKEN, FakeAuditLog

pytestmark = pytest.mark.django_db
NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
NOW_MS = int(NOW.timestamp() * 1000)


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


def poll(conn, now=NOW, timeout=15.0):
    return polling.poll_connection(conn, now=now, session=polling.retrying_session(backoff=0, timeout=timeout))


def state(conn) -> dict:
    return PollState.objects.get(connection=conn).state


def test_a_poll_pages_through_the_log_and_fetches_each_flag_entry_in_full(conn, fake):
    ids = [fake.add(n, NOW_MS - n * 60_000) for n in range(1, 46)]  # 45 entries: three pages of 20
    fake.add(99, NOW_MS - 30 * 60_000 - 1, kind="member")
    summary = poll(conn)
    assert summary.records == 45 and summary.steps == 3
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
    assert summary.records == 1 and Change.objects.filter(external_id=new_id).exists()
    assert [p for p in fake.requests if "/auditlog/" in p] == [f"/api/v2/auditlog/{new_id}"]
    assert state(conn)["after"] == NOW_MS + 60_000


def test_a_429_stops_the_poll_and_it_resumes_after_the_reset_without_a_gap(conn, fake):
    ids = [fake.add(n, NOW_MS - n * 60_000) for n in range(1, 31)]
    reset_ms = NOW_MS + 90_000
    fake.failures.append([r"before=", 429, {"X-Ratelimit-Reset": str(reset_ms)}, 1])  # the second page
    summary = poll(conn)
    assert summary.resume_after == datetime.fromtimestamp(reset_ms / 1000, UTC)
    assert summary.records == 20  # the first page is stored
    first_after = state(conn)["after"]
    assert first_after == NOW_MS - 86_400_000  # unchanged: the walk did not reach it
    fake.requests.clear()
    assert poll(conn, now=NOW + timedelta(seconds=30)).outcome == "rate limited" and fake.requests == []
    summary = poll(conn, now=NOW + timedelta(minutes=2))
    assert summary.resume_after is None
    assert set(Change.objects.filter(source="launchdarkly").values_list("external_id", flat=True)) == set(ids)
    assert state(conn) == {"after": NOW_MS - 60_000}


def test_the_token_is_sent_raw_and_a_rejected_token_is_reported(connection_factory, fake):
    bad = connection_factory("launchdarkly", clear={"api_token": "wrong"}, config={"api_url": fake.url}, name="bad")
    summary = poll(bad)
    assert "401" in summary.error and Change.objects.count() == 0


def test_an_odd_entry_is_skipped_and_does_not_stall_the_poll(conn, fake):
    good = fake.add(1, NOW_MS - 60_000)
    odd = fake.add(2, NOW_MS - 120_000)
    next(e for e in fake.entries if e["_id"] == odd)["accesses"] = []
    summary = poll(conn)
    assert summary.records == 1 and summary.skipped[0].startswith(odd)
    assert Change.objects.filter(external_id=good).exists() and state(conn)["after"] == NOW_MS - 60_000


def test_without_a_next_link_a_full_page_continues_before_its_oldest_entry(conn, fake):
    fake.omit_next = True
    ids = [fake.add(n, NOW_MS - n * 60_000) for n in range(1, 26)]
    summary = poll(conn)
    assert summary.records == 25 and summary.steps == 2
    assert set(Change.objects.values_list("external_id", flat=True)) == set(ids)


def test_the_pure_poll_reads_state_in_and_gives_records_and_state_out_without_a_database(fake):
    ids = [fake.add(n, NOW_MS - n * 60_000) for n in range(1, 26)]
    steps = list(
        LaunchDarklyIntegration().poll(
            {"api_url": fake.url},
            {"api_token": TOKEN},
            {"after": NOW_MS - 24 * 60_000 - 30_000},
            NOW,
            polling.retrying_session(backoff=0),
        )
    )
    assert [len(s.records) for s in steps] == [20, 4]  # one step per page; the 25th entry is older than "after"
    # the watermark moves with the last page only: a walk stopped half-way starts again from the old one
    assert [s.state for s in steps] == [{"after": NOW_MS - 24 * 60_000 - 30_000}, {"after": NOW_MS - 60_000}]
    assert {r.external_id for s in steps for r in s.records} == set(ids[:24])


def test_a_429_names_when_to_come_back_in_epoch_milliseconds(fake):
    fake.failures.append([r"auditlog", 429, {"X-Ratelimit-Reset": str(NOW_MS + 90_000)}, 1])
    steps = LaunchDarklyIntegration().poll(
        {"api_url": fake.url}, {"api_token": TOKEN}, {}, NOW, polling.retrying_session(backoff=0)
    )
    with pytest.raises(RateLimited) as info:
        list(steps)
    assert info.value.resume_after == NOW + timedelta(seconds=90)
