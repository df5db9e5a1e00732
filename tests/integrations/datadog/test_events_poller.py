"""The Datadog Events API v2 poll against a local server speaking the API: paging, the ``since`` watermark with
its overlap, the 429 reset header. Lock, retries, outages and kills: ``tests/collect/test_polling_runner.py``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from changetrack.collect import polling
from changetrack.models import Change, PollState, Service
from integrations.base import PollError, RateLimited
from integrations.datadog import DatadogIntegration
from integrations.datadog.events import OVERLAP, api_base
from tests.integrations.datadog.fake_api import API_KEY, APP_KEY, event, serve

pytestmark = pytest.mark.django_db
NOW = datetime(2024, 9, 23, 20, 0, tzinfo=UTC)


@pytest.fixture
def api():
    with serve() as (fake, url):
        yield fake, url


@pytest.fixture
def conn(connection_factory, api):
    _, url = api
    return connection_factory(
        "datadog",
        clear={"api_key": API_KEY, "app_key": APP_KEY},
        hashed={"token": "t"},
        config={"events_query": "tags:change_kind:deploy", "site": url, "events_lookback_minutes": 120},
    )


def _run(conn, now=NOW):
    return polling.poll_connection(conn, now=now, session=polling.retrying_session(backoff=0))


def _state(conn) -> dict:
    return PollState.objects.get(connection=conn).state


def _events(n: int, start: datetime = NOW - timedelta(minutes=90)) -> list[dict]:
    return [
        event(
            f"70000000000000{i:04d}",
            (start + timedelta(minutes=i)).isoformat().replace("+00:00", "Z"),
            f"Deployed checkout v2.{i}",
            ["service:checkout", "env:prod", "change_kind:deploy", f"sha:abc{i:04d}def"],
        )
        for i in range(n)
    ]


def test_it_pages_through_every_event_and_stores_them_as_changes(api, conn):
    fake, url = api
    fake.events = _events(250)
    service = Service.objects.create(name="checkout")
    outcome = _run(conn)
    assert (outcome.records, outcome.created, outcome.error) == (250, 250, "")
    assert [r["params"].get("page[cursor]") for r in fake.requests] == [None, "100", "200"]
    first = fake.requests[0]
    assert first["api_key"] == API_KEY and first["app_key"] == APP_KEY
    assert first["params"]["filter[query]"] == "tags:change_kind:deploy" and first["params"]["sort"] == "timestamp"
    assert int(first["params"]["filter[from]"]) == int((NOW - timedelta(minutes=120)).timestamp() * 1000)
    change = Change.objects.get(source="datadog", external_id="event:700000000000000003")
    assert change.kind == "deploy" and change.summary == "Deployed checkout v2.3" and change.service_id == service.pk
    assert change.commit_sha == "abc0003def"
    assert datetime.fromisoformat(_state(conn)["since"]) == NOW - timedelta(minutes=90) + timedelta(minutes=249)


def test_a_second_run_resumes_from_the_watermark_and_stores_only_new_events(api, conn):
    fake, url = api
    fake.events = _events(5)
    _run(conn)
    fake.requests.clear()
    fake.events += [
        event(
            "7999",
            (NOW + timedelta(minutes=3)).isoformat(),
            "Rolled back checkout",
            ["service:checkout", "change_kind:rollback"],
        )
    ]
    outcome = _run(conn, now=NOW + timedelta(minutes=5))
    newest_before = NOW - timedelta(minutes=90) + timedelta(minutes=4)
    assert int(fake.requests[0]["params"]["filter[from]"]) == int((newest_before - OVERLAP).timestamp() * 1000)
    assert outcome.created == 1  # the overlapping event is fetched again but not stored twice
    assert Change.objects.filter(source="datadog").count() == 6
    assert Change.objects.get(external_id="event:7999").kind == "rollback"


def test_a_429_stops_the_run_and_it_resumes_only_after_the_reset(api, conn):
    fake, url = api
    fake.events = _events(150)
    fake.failures = [(429, {"X-RateLimit-Reset": "30", "X-RateLimit-Limit": "1000"})]
    first = _run(conn)
    assert first.resume_after is not None and first.created == 0
    # X-RateLimit-Reset is the number of seconds until the window resets
    assert PollState.objects.get(connection=conn).resume_after == NOW + timedelta(seconds=30)
    fake.requests.clear()
    assert _run(conn, now=NOW + timedelta(seconds=10)).records == 0
    assert fake.requests == []  # still inside the rate-limit window: no call at all
    resumed = _run(conn, now=NOW + timedelta(seconds=31))
    assert resumed.created == 150 and resumed.resume_after is None


def test_a_rate_limit_in_the_middle_keeps_the_pages_already_stored(api, conn):
    fake, url = api
    fake.events = _events(150)
    fake.later_page_failures = [(429, {"X-RateLimit-Reset": "12"})]
    outcome = _run(conn)
    assert outcome.resume_after == NOW + timedelta(seconds=12) and outcome.created == 100
    assert datetime.fromisoformat(_state(conn)["since"]) == NOW - timedelta(minutes=90) + timedelta(minutes=99)


def test_persistent_server_errors_are_recorded_without_raising(api, conn):
    fake, url = api
    fake.events = _events(3)
    fake.failures = [(500, {})] * 10
    outcome = _run(conn)
    assert outcome.created == 0 and "500" in outcome.error
    assert "500" in PollState.objects.get(connection=conn).last_error


def test_wrong_keys_are_an_error_not_a_crash(api, connection_factory):
    fake, url = api
    conn = connection_factory(
        "datadog",
        clear={"api_key": "nope", "app_key": "nope"},
        hashed={"token": "t"},
        config={"events_query": "*", "site": url},
    )
    outcome = _run(conn)
    assert "403" in outcome.error


def test_an_event_without_a_title_or_message_is_skipped(api, conn):
    fake, url = api
    fake.events = _events(2) + [
        {
            "id": "8000",
            "type": "event",
            "attributes": {"timestamp": (NOW - timedelta(minutes=1)).isoformat(), "tags": []},
        }
    ]
    outcome = _run(conn)
    assert (outcome.created, len(outcome.skipped)) == (2, 1)


def test_a_connection_without_a_query_is_not_polled(api, connection_factory):
    fake, url = api
    conn = connection_factory("datadog", hashed={"token": "t"}, config={"site": url})
    assert _run(conn).outcome == "not set up"
    assert polling.due_connections(NOW) == []
    assert fake.requests == []


def test_the_pure_poll_reads_state_in_and_gives_records_and_state_out_without_a_database(api):
    fake, url = api
    fake.events = _events(150)
    since = NOW - timedelta(minutes=60)
    steps = list(
        DatadogIntegration().poll(
            {"events_query": "q", "site": url},
            {"api_key": API_KEY, "app_key": APP_KEY},
            {"since": since.isoformat()},
            NOW,
            polling.retrying_session(backoff=0),
        )
    )
    assert int(fake.requests[0]["params"]["filter[from]"]) == int((since - OVERLAP).timestamp() * 1000)
    # one event a minute from 90 minutes back: those from 62 minutes back (the overlap) on, one step per page
    assert [len(s.records) for s in steps] == [100, 22]
    assert [s.state for s in steps] == [
        {"since": (NOW + timedelta(minutes=37)).isoformat()},
        {"since": (NOW + timedelta(minutes=59)).isoformat()},
    ]


def test_a_429_alone_names_when_to_come_back(api):
    fake, url = api
    fake.failures = [(429, {"X-RateLimit-Reset": "12"})]
    steps = DatadogIntegration().poll(
        {"events_query": "q", "site": url},
        {"api_key": API_KEY, "app_key": APP_KEY},
        {},
        NOW,
        polling.retrying_session(),
    )
    with pytest.raises(RateLimited) as info:
        list(steps)
    assert info.value.resume_after == NOW + timedelta(seconds=12)


def test_sites_map_to_their_api_hosts():
    assert api_base("") == "https://api.datadoghq.com"
    assert api_base("datadoghq.eu") == "https://api.datadoghq.eu"
    assert api_base("http://127.0.0.1:9") == "http://127.0.0.1:9"
    with pytest.raises(PollError):
        api_base("evil.example.com")
