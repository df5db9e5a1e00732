"""The poll runner's fault behaviour, once for every pull source (GitHub, LaunchDarkly, Datadog events, AWS), each
against a local server speaking the vendor's API: the lock, rate limits, retries, outages, a silent server and a
run killed half-way. What each source reads and how it pages is tested in ``tests/integrations/<slug>/``."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.conf import settings

from changetrack.collect import polling
from changetrack.models import Change, PollState, Service
from integrations.aws import clients as aws_clients
from tests.integrations.aws.conftest import SECRET_KEY as AWS_SECRET_KEY
from tests.integrations.aws.conftest import cloudtrail_record, poll_config
from tests.integrations.aws.fake_aws import FakeAws
from tests.integrations.datadog import fake_api as datadog_api
from tests.integrations.github.fake_github import FakeGitHub
from tests.integrations.github.test_poller import commit
from tests.integrations.launchdarkly.fake_api import TOKEN, FakeAuditLog
from tests.reliability import procs

pytestmark = pytest.mark.django_db
NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
NOW_MS = int(NOW.timestamp() * 1000)
REPOS = ("acme/checkout-api", "acme/payments")  # polled in this order: the second is the run's second step


class GitHubSource:
    """Two repositories, one step each; the second step's requests name ``acme/payments``."""

    slug, second_step = "github", "acme/payments"

    def __init__(self, factory: Any) -> None:
        self.server = FakeGitHub().__enter__()
        for name in REPOS:
            self.server.add_repo(name)
            Service.objects.create(name=name.split("/")[1], repository=name)
        self.conn = factory(
            "github", clear={"token": "ghp_test"}, config={"api_url": self.server.url, "seconds_between_requests": 0}
        )
        self.serial = 0

    def close(self) -> None:
        self.server.__exit__(None, None, None)

    def add(self, at: datetime) -> set[str]:
        """A new commit in each repository: one commit change per repository."""
        out = set()
        for name in REPOS:
            self.serial += 1
            self.server.repos[name]["commits"].insert(0, {**commit(self.serial, at), "sha": f"{self.serial:040x}"})
            out.add(f"commits:{name}:{self.serial:040x}")
        return out

    def requests(self) -> int:
        return len(self.server.requests)

    def fail(self, status: int, times: int, headers: dict[str, str] | None = None, second: bool = False) -> None:
        self.server.fail(self.second_step if second else "/repos/", status, headers, times=times)

    def rate_limit(self) -> datetime:
        reset = int((NOW + timedelta(minutes=10)).timestamp())
        self.server.rate_limit("/repos/", reset=reset)
        return datetime.fromtimestamp(reset + 1, UTC)  # GitHub: epoch seconds, one more to be past the reset

    def stall(self) -> None:
        self.server.stall(self.second_step)

    def release(self) -> None:
        self.server.failures.clear()
        self.server.release()

    def first_step_saved(self) -> bool:
        row = PollState.objects.filter(connection=self.conn).first()
        return bool(row and REPOS[0] in row.state.get("repositories", {}))


class LaunchDarklySource:
    """The audit log: steps are pages of 20; the second page's request carries ``before=``."""

    slug, second_step = "launchdarkly", "before="

    def __init__(self, factory: Any) -> None:
        self.server = FakeAuditLog()
        self.conn = factory("launchdarkly", clear={"api_token": TOKEN}, config={"api_url": self.server.url})
        self.serial = 0

    def close(self) -> None:
        self.server.released.set()
        self.server.server.shutdown()
        self.server.server.server_close()

    def add(self, at: datetime) -> set[str]:
        """25 entries (two pages) ending at ``at``."""
        out = set()
        for i in range(25):
            self.serial += 1
            out.add(self.server.add(self.serial, int(at.timestamp() * 1000) - (24 - i) * 1000))
        return out

    def requests(self) -> int:
        return len(self.server.requests)

    def fail(self, status: int, times: int, headers: dict[str, str] | None = None, second: bool = False) -> None:
        self.server.failures.append([self.second_step if second else "auditlog", status, headers or {}, times])

    def rate_limit(self) -> datetime:
        reset_ms = NOW_MS + 600_000
        self.fail(429, 1, {"X-Ratelimit-Reset": str(reset_ms)})
        return datetime.fromtimestamp(reset_ms / 1000, UTC)  # LaunchDarkly: epoch milliseconds

    def stall(self) -> None:
        self.server.released.clear()
        self.server.stalls.append([self.second_step, 100])

    def release(self) -> None:
        self.server.failures.clear()
        self.server.stalls.clear()
        self.server.released.set()

    def first_step_saved(self) -> bool:
        return Change.objects.filter(source="launchdarkly").count() >= 20


class LaterPageFaults:
    """Faults of a fake server with ``failures`` and ``later_page_failures`` queues of (status, headers) and a
    ``stall_later_pages`` switch held until ``released`` (the Datadog and AWS fakes)."""

    server: Any

    def requests(self) -> int:
        return len(self.server.requests)

    def fail(self, status: int, times: int, headers: dict[str, str] | None = None, second: bool = False) -> None:
        (self.server.later_page_failures if second else self.server.failures).extend([(status, headers or {})] * times)

    def stall(self) -> None:
        self.server.released.clear()
        self.server.stall_later_pages = True

    def release(self) -> None:
        self.server.failures.clear()
        self.server.later_page_failures.clear()
        self.server.stall_later_pages = False
        self.server.released.set()


class DatadogSource(LaterPageFaults):
    """The Events API: steps are pages of 100; the second page's request carries ``page[cursor]``."""

    slug = "datadog"

    def __init__(self, factory: Any) -> None:
        self._serving = datadog_api.serve()
        self.server, url = self._serving.__enter__()
        self.conn = factory(
            "datadog",
            clear={"api_key": datadog_api.API_KEY, "app_key": datadog_api.APP_KEY},
            hashed={"token": "t"},
            config={"events_query": "tags:change_kind:deploy", "site": url, "events_lookback_minutes": 120},
        )
        self.serial = 0

    def close(self) -> None:
        self._serving.__exit__(None, None, None)

    def add(self, at: datetime) -> set[str]:
        """150 events (two pages) 20 seconds apart, ending at ``at``."""
        out = set()
        for i in range(150):
            self.serial += 1
            stamp = (at - timedelta(seconds=20 * (149 - i))).isoformat().replace("+00:00", "Z")
            self.server.events.append(datadog_api.event(str(self.serial), stamp, f"Deploy {self.serial}", []))
            out.add(f"event:{self.serial}")
        return out

    def rate_limit(self) -> datetime:
        self.fail(429, 1, {"X-RateLimit-Reset": "600"})
        return NOW + timedelta(seconds=600)  # Datadog: seconds until the window resets

    def first_step_saved(self) -> bool:
        row = PollState.objects.filter(connection=self.conn).first()
        return bool(row and row.state.get("since"))


class AwsSource(LaterPageFaults):
    """CloudTrail LookupEvents: steps are pages of 50; the second page's request carries a ``NextToken``."""

    slug = "aws"

    def __init__(self, factory: Any) -> None:
        self.server = FakeAws()
        self.conn = factory("aws", clear={"secret_access_key": AWS_SECRET_KEY}, config=poll_config(self.server))

    def close(self) -> None:
        self.release()
        self.server.close()

    def add(self, at: datetime) -> set[str]:
        """60 events (two pages) 10 seconds apart, ending at ``at``; LookupEvents answers nothing after the poll's
        ``now`` (its ``EndTime``), so events the tests put later than a poll are put just before it instead."""
        end = NOW + timedelta(minutes=4) if NOW < at < NOW + timedelta(days=1) else at
        records = [cloudtrail_record(at=end - timedelta(seconds=10 * i)) for i in range(60)]
        self.server.records += records
        return {r["eventID"] for r in records}

    def rate_limit(self) -> datetime:
        self.server.throttle_at = {len(self.server.lookups) + 1}
        return NOW + aws_clients.THROTTLE_PAUSE  # CloudTrail's ThrottlingException says nothing about when

    def first_step_saved(self) -> bool:
        row = PollState.objects.filter(connection=self.conn).first()
        return bool(row and row.state.get("cloudtrail", {}).get("eu-west-1", {}).get("walk"))


SOURCES = {"github": GitHubSource, "launchdarkly": LaunchDarklySource, "datadog": DatadogSource, "aws": AwsSource}


@pytest.fixture(params=sorted(SOURCES))
def source(request, connection_factory) -> Iterator[Any]:
    src = SOURCES[request.param](connection_factory)
    yield src
    src.close()


def run(src: Any, now: datetime = NOW, timeout: float = 15.0) -> polling.RunSummary:
    return polling.poll_connection(src.conn, now=now, session=polling.retrying_session(backoff=0, timeout=timeout))


def stored(src: Any) -> list[str]:
    return list(Change.objects.filter(source=src.slug).values_list("external_id", flat=True))


def state(src: Any) -> PollState:
    return PollState.objects.get(connection=src.conn)


def lock_of(src: Any, client: Any) -> Any:
    return client.lock(polling.LOCK_KEY.format(connection=src.conn.pk), timeout=60)


def test_a_poll_already_running_for_a_connection_is_not_started_twice(source, redis_client):
    source.add(NOW - timedelta(minutes=5))
    other = lock_of(source, redis_client)  # another worker's run
    assert other.acquire(blocking=False)
    assert run(source).outcome == "locked" and source.requests() == 0
    assert other.owned()  # the skipped run left the other worker's lock alone
    other.release()
    assert run(source).outcome == "polled" and stored(source)


def test_a_second_holder_cannot_release_the_first_holders_lock(source, redis_client):
    first = redis_client.lock(polling.LOCK_KEY.format(connection=source.conn.pk), timeout=0.2)
    assert first.acquire(blocking=False)
    time.sleep(0.3)  # the first holder's TTL runs out (a worker that hung)
    second = lock_of(source, redis_client)
    assert second.acquire(blocking=False)
    with pytest.raises(Exception, match="(?i)not owned|no longer owned"):
        first.release()  # compare-and-delete in one step: the late first holder cannot free the second's lock
    assert second.owned()
    assert run(source).outcome == "locked"
    second.release()


def test_a_rate_limit_is_kept_and_nothing_is_asked_of_the_source_until_it_ends(source, redis_client):
    ids = source.add(NOW - timedelta(minutes=5))
    resume = source.rate_limit()
    summary = run(source)
    assert summary.resume_after == resume and state(source).resume_after == resume
    assert "rate limited" in state(source).last_error and stored(source) == []
    assert source.requests() == 1  # answered at once: no retry, no sleep until the reset
    assert run(source, now=resume - timedelta(seconds=1)).outcome == "rate limited" and source.requests() == 1
    assert polling.due_connections(resume - timedelta(seconds=1)) == []
    assert [c.pk for c in polling.due_connections(resume)] == [source.conn.pk]
    summary = run(source, now=resume)
    assert summary.outcome == "polled" and not summary.errors and set(stored(source)) == ids
    assert state(source).resume_after is None and state(source).last_error == ""
    assert state(source).last_success_at == resume


def test_server_errors_are_retried_by_the_session(source, redis_client):
    ids = source.add(NOW - timedelta(minutes=5))
    run(source)
    clean = source.requests()  # what the same poll asks when nothing fails
    PollState.objects.filter(connection=source.conn).delete()
    Change.objects.filter(source=source.slug).delete()
    source.server.requests.clear()
    source.fail(503, times=2)
    summary = run(source)
    assert not summary.errors and set(stored(source)) == ids
    assert source.requests() == clean + 2


def test_a_5xx_outage_longer_than_the_retries_keeps_the_state_and_the_poll_after_recovery_has_no_gap(
    source, redis_client
):
    before = source.add(NOW - timedelta(minutes=5))
    run(source)
    saved = state(source).state
    assert set(stored(source)) == before
    new = source.add(NOW + timedelta(hours=1))  # every step of the next poll has some
    for status in (500, 502, 503):  # six failures of the second step: more than the first try and three retries
        source.fail(status, times=2, second=True)
    during = NOW + timedelta(minutes=5)
    summary = run(source, now=during)
    assert summary.resume_after == during + timedelta(minutes=1) and summary.error
    assert state(source).state != {} and state(source).last_error == summary.error
    source.release()  # the source recovers
    after = during + timedelta(minutes=2)
    assert not run(source, now=after).errors
    ids = stored(source)
    assert set(ids) == before | new and len(ids) == len(set(ids))  # nothing missing, nothing twice
    assert state(source).state != saved


def _finishes_within(seconds: float, call):
    """Run ``call`` in a thread; fail if it is still running after ``seconds`` (a hang, not a slow run)."""
    import threading

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
def test_a_server_that_stops_answering_ends_the_poll_and_the_next_poll_resumes_without_a_gap(source, redis_client):
    before = source.add(NOW - timedelta(minutes=5))
    run(source)
    new = source.add(NOW + timedelta(hours=1))  # every step of the next poll has some
    source.stall()  # the second step: accepted, read, never answered
    during = NOW + timedelta(minutes=5)
    summary = _finishes_within(30, lambda: run(source, now=during, timeout=1))
    assert summary.resume_after == during + timedelta(minutes=1) and "unreachable" in summary.error
    source.release()
    after = during + timedelta(minutes=2)
    assert not _finishes_within(30, lambda: run(source, now=after, timeout=1)).errors
    ids = stored(source)
    assert set(ids) == before | new and len(ids) == len(set(ids))


@pytest.mark.django_db(transaction=True)  # the poll runs in another process: it must see committed rows
def test_a_run_killed_half_way_resumes_from_the_saved_state(source, redis_client, tmp_path):
    everything = source.add(datetime.now(UTC) - timedelta(minutes=5))  # the child process polls at its own now
    source.stall()  # the second step never answers: the child is killed while it waits
    env = procs.child_env(procs.test_database_url(), settings.REDIS_URL, SECRET_KEY=settings.SECRET_KEY)
    child = procs.Proc(
        [str(procs.VENV_BIN / "python"), "manage.py", "poll", str(source.conn.pk)], env, tmp_path / "poll.log"
    ).start()
    try:
        procs.wait_for(source.first_step_saved, 60, "the first step stored and saved")
    finally:
        child.kill()
    first = set(stored(source))
    assert first and first < everything  # half-way: the first step is stored, the rest is not
    key = polling.LOCK_KEY.format(connection=source.conn.pk)
    assert redis_client.ttl(key) > 0  # the dead run's lock will expire on its own...
    assert run(source).outcome == "locked"
    redis_client.delete(key)  # ...which this stands for
    source.release()
    summary = run(source, now=datetime.now(UTC))
    assert not summary.errors, child.output()
    ids = stored(source)
    assert set(ids) == everything and len(ids) == len(set(ids))
    assert summary.created == len(everything - first)
    if source.slug != "launchdarkly":  # its watermark only moves once a walk is complete: it reads page one again
        assert summary.records < len(everything)  # resumed from the saved state, not from the start


def test_only_due_connections_of_pull_sources_are_enqueued(source, connection_factory, redis_client):
    connection_factory("generic", hashed={"token": "t"})  # no poll()
    assert [c.pk for c in polling.due_connections(NOW)] == [source.conn.pk]
    source.add(NOW - timedelta(minutes=5))
    summary = run(source)
    assert summary.next_poll_at == NOW + polling.pollable(source.conn).poll_interval
    assert polling.due_connections(summary.next_poll_at - timedelta(seconds=1)) == []
    assert [c.pk for c in polling.due_connections(summary.next_poll_at)] == [source.conn.pk]


def test_the_connection_page_shows_the_last_success_and_the_last_error(source, redis_client, admin_client):
    web = admin_client
    source.add(NOW - timedelta(minutes=5))
    run(source)
    page = web.get(f"/integrations/{source.conn.pk}/").content.decode()
    assert "Polling" in page and "last error" not in page
    source.rate_limit()
    run(source, now=NOW + timedelta(minutes=10))
    page = web.get(f"/integrations/{source.conn.pk}/").content.decode()
    assert "paused until" in page and "last error" in page and "rate limited" in page


def test_a_polled_record_postgresql_cannot_store_is_left_out_with_its_reason_and_the_rest_are_stored(
    connection_factory, redis_client
):
    src = DatadogSource(connection_factory)
    try:
        src.add(NOW - timedelta(minutes=5))
        stamp = (NOW - timedelta(minutes=1)).isoformat().replace("+00:00", "Z")
        src.server.events.append(datadog_api.event("nul-1", stamp, "Deploy \u0000 checkout", []))
        summary = run(src)
    finally:
        src.close()
    assert len(stored(src)) == 150 and "event:nul-1" not in stored(src)
    assert "event:nul-1 left out" in summary.error and "NUL" in summary.error
    assert "event:nul-1 left out" in state(src).last_error


def test_a_successful_poll_is_the_connections_last_delivery_and_a_failed_one_is_not(source, redis_client, admin_client):
    source.rate_limit()
    run(source)
    source.conn.refresh_from_db()
    assert source.conn.last_delivery_at is None
    source.release()
    later = NOW + timedelta(minutes=15)
    source.add(later - timedelta(minutes=5))
    assert not run(source, now=later).errors
    source.conn.refresh_from_db()
    assert source.conn.last_delivery_at == later
    for path in ("/integrations/", f"/integrations/{source.conn.pk}/"):  # polled sources have no delivery rows
        assert f'<time datetime="{later.isoformat()}"' in admin_client.get(path).content.decode(), path
