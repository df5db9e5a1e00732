"""The Datadog Events API v2 poller against a local server speaking the API: paging, watermark, 429, 5xx."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from changetrack.collect import datadog_events
from changetrack.models import Change, Service, Watermark
from integrations.datadog.events import EventsClient, PollError, RateLimited, api_base
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


def _run(conn, url, now=NOW):
    client = EventsClient(url, API_KEY, APP_KEY, backoff=lambda attempt: None)
    return datadog_events.poll_connection(conn, now=now, client=client)


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
    outcome = _run(conn, url)
    assert (outcome.events, outcome.stored, outcome.error) == (250, 250, "")
    assert [r["params"].get("page[cursor]") for r in fake.requests] == [None, "100", "200"]
    first = fake.requests[0]
    assert first["api_key"] == API_KEY and first["app_key"] == APP_KEY
    assert first["params"]["filter[query]"] == "tags:change_kind:deploy" and first["params"]["sort"] == "timestamp"
    assert int(first["params"]["filter[from]"]) == int((NOW - timedelta(minutes=120)).timestamp() * 1000)
    change = Change.objects.get(source="datadog", external_id="event:700000000000000003")
    assert change.kind == "deploy" and change.summary == "Deployed checkout v2.3" and change.service_id == service.pk
    assert change.commit_sha == "abc0003def"
    state = json.loads(Watermark.objects.get(key=datadog_events.watermark_key(conn)).value)
    assert datetime.fromisoformat(state["since"]) == NOW - timedelta(minutes=90) + timedelta(minutes=249)


def test_a_second_run_resumes_from_the_watermark_and_stores_only_new_events(api, conn):
    fake, url = api
    fake.events = _events(5)
    _run(conn, url)
    fake.requests.clear()
    fake.events += [
        event(
            "7999",
            (NOW + timedelta(minutes=3)).isoformat(),
            "Rolled back checkout",
            ["service:checkout", "change_kind:rollback"],
        )
    ]
    outcome = _run(conn, url, now=NOW + timedelta(minutes=5))
    newest_before = NOW - timedelta(minutes=90) + timedelta(minutes=4)
    assert int(fake.requests[0]["params"]["filter[from]"]) == int(
        (newest_before - datadog_events.OVERLAP).timestamp() * 1000
    )
    assert outcome.stored == 1  # the overlapping event is fetched again but not stored twice
    assert Change.objects.filter(source="datadog").count() == 6
    assert Change.objects.get(external_id="event:7999").kind == "rollback"


def test_a_429_stops_the_run_and_it_resumes_only_after_the_reset(api, conn):
    fake, url = api
    fake.events = _events(150)
    fake.failures = [(429, {"X-RateLimit-Reset": "30", "X-RateLimit-Limit": "1000"})]
    first = _run(conn, url)
    assert first.rate_limited and first.stored == 0
    state = json.loads(Watermark.objects.get().value)
    assert datetime.fromisoformat(state["retry_at"]) == NOW + timedelta(seconds=30)
    fake.requests.clear()
    assert _run(conn, url, now=NOW + timedelta(seconds=10)).events == 0
    assert fake.requests == []  # still inside the rate-limit window: no call at all
    resumed = _run(conn, url, now=NOW + timedelta(seconds=31))
    assert resumed.stored == 150 and not resumed.rate_limited


def test_a_rate_limit_in_the_middle_keeps_the_pages_already_stored(api, conn):
    fake, url = api
    fake.events = _events(150)
    client = EventsClient(url, API_KEY, APP_KEY, backoff=lambda attempt: None)
    pages = client.pages("q", NOW - timedelta(hours=3))
    next(pages)  # consume the first page so the next request is the second one
    fake.failures = [(429, {"X-RateLimit-Reset": "12"})]
    with pytest.raises(RateLimited) as info:
        next(pages)
    assert info.value.retry_after == 12
    # and through the poller: page 1 stored, page 2 limited → watermark at the end of page 1
    fake.requests.clear()

    class LimitSecondPage(EventsClient):
        def _get(self, params):
            if params.get("page[cursor]"):
                fake.failures.append((429, {"X-RateLimit-Reset": "12"}))
            return super()._get(params)

    outcome = datadog_events.poll_connection(conn, now=NOW, client=LimitSecondPage(url, API_KEY, APP_KEY))
    assert outcome.rate_limited and outcome.stored == 100
    state = json.loads(Watermark.objects.get().value)
    assert datetime.fromisoformat(state["since"]) == NOW - timedelta(minutes=90) + timedelta(minutes=99)


def test_server_errors_are_retried_then_the_run_succeeds(api, conn):
    fake, url = api
    fake.events = _events(3)
    fake.failures = [(500, {}), (503, {})]
    outcome = _run(conn, url)
    assert outcome.stored == 3 and outcome.error == ""
    assert len(fake.requests) == 3


def test_persistent_server_errors_are_recorded_without_raising(api, conn):
    fake, url = api
    fake.events = _events(3)
    fake.failures = [(500, {})] * 10
    outcome = _run(conn, url)
    assert outcome.stored == 0 and "500" in outcome.error
    assert "500" in json.loads(Watermark.objects.get().value)["error"]


def test_wrong_keys_are_an_error_not_a_crash(api, connection_factory):
    fake, url = api
    conn = connection_factory(
        "datadog",
        clear={"api_key": "nope", "app_key": "nope"},
        hashed={"token": "t"},
        config={"events_query": "*", "site": url},
    )
    outcome = datadog_events.poll_connection(conn, now=NOW)
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
    outcome = _run(conn, url)
    assert (outcome.stored, outcome.skipped) == (2, 1)


def test_a_connection_without_a_query_is_not_polled(api, connection_factory):
    fake, url = api
    conn = connection_factory("datadog", hashed={"token": "t"}, config={"site": url})
    assert datadog_events.poll_connection(conn, now=NOW).events == 0
    assert fake.requests == []


def test_sites_map_to_their_api_hosts():
    assert api_base("") == "https://api.datadoghq.com"
    assert api_base("datadoghq.eu") == "https://api.datadoghq.eu"
    assert api_base("http://127.0.0.1:9") == "http://127.0.0.1:9"
    with pytest.raises(PollError):
        api_base("evil.example.com")
