"""The one timeline query (changetrack.timeline) as the API and the service page both answer with it: one order,
one cursor, the same entries for the same window."""

from __future__ import annotations

import base64
import re
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlparse

import pytest

from changetrack import roles
from changetrack.ingest.store import store_records
from changetrack.models import Alert, Change, HealthEpisode, Service
from integrations.base import AlertRecord, ChangeRecord, ServiceHint

pytestmark = pytest.mark.django_db

HINT = ServiceHint(name="ledger", namespace="money", cluster="prod", create=True)
AT = datetime(2026, 11, 21, 10, 0, tzinfo=UTC)
WINDOW = {"since": "2026-11-21T09:00:00Z", "until": "2026-11-21T11:00:00Z", "depth": 0}
HX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def ledger():
    """Around ``AT``: two changes and an alert at ``AT`` itself (a tie across tables), a health episode that
    starts at ``AT`` too, and older and newer changes; everything starts and ends inside ``WINDOW``."""

    def change(name: str, at: datetime) -> ChangeRecord:
        return ChangeRecord(source="api", external_id=name, kind="deploy", occurred_at=at, summary=name, service=HINT)

    store_records([change(f"before {i}", AT - timedelta(minutes=i + 1)) for i in range(3)])
    store_records([change("tied 1", AT), change("tied 2", AT), change("newer", AT + timedelta(minutes=5))])
    alert = AlertRecord(
        source="demo", external_id="a1", title="tied alert", status="triggered", occurred_at=AT, service=HINT
    )
    store_records([alert])
    service = Service.objects.get(name="ledger")
    span = {"started_at": AT, "last_seen_at": AT + timedelta(minutes=2), "ended_at": AT + timedelta(minutes=2)}
    HealthEpisode.objects.create(service=service, reason="OOMKilled", summary="tied episode", **span)
    Alert.objects.filter(external_id="a1").update(resolved_at=AT + timedelta(minutes=3), status="resolved")
    return service


@pytest.fixture
def web(client, django_user_model):
    user = django_user_model.objects.create_user("oncall", password="correct horse battery staple")
    roles.set_role(user, roles.VIEWER)
    client.force_login(user)
    return client


def _api_pages(api, service: Service, limit: int) -> list[tuple[str, str]]:
    seen: list[tuple[str, str]] = []
    page = api.get(f"/api/v1/services/{service.pk}/timeline", {**WINDOW, "limit": limit}).json()
    while True:
        seen += [(e["type"], e["summary"]) for e in page["results"]]
        if not page["next"]:
            return seen
        page = api.get(page["next"]).json()


EXPECTED = [
    ("change", "newer"),
    ("change", "tied 2"),
    ("change", "tied 1"),
    ("alert", "tied alert"),
    ("health", "tied episode"),
    ("change", "before 0"),
    ("change", "before 1"),
    ("change", "before 2"),
]


def test_a_cursor_from_page_one_continues_across_a_change_and_an_alert_on_the_same_instant(api, ledger):
    # page breaks after "tied 1" (a change) with the alert at the same instant still to come, and after the alert
    # with the episode at the same instant still to come
    assert _api_pages(api, ledger, 3) == EXPECTED
    assert _api_pages(api, ledger, 4) == EXPECTED
    assert _api_pages(api, ledger, 1) == EXPECTED


def test_a_cursor_in_the_format_already_handed_to_clients_still_continues_where_it_stopped(api, ledger):
    tied = Change.objects.get(external_id="tied 1")
    token = base64.urlsafe_b64encode(f"{AT.isoformat()}|2|{tied.pk}".encode()).decode()  # time|type rank|id
    body = api.get(f"/api/v1/services/{ledger.pk}/timeline", {**WINDOW, "cursor": token}).json()
    assert [(e["type"], e["summary"]) for e in body["results"]] == EXPECTED[3:]


def _page_rows(html: str) -> list[tuple[str, str]]:
    return re.findall(
        r'<tr class="ev-(\w+)">.*?<td>(?:<a href="[^"]*">)?([^<]+)(?:</a>)?</td><td>[^<]*</td><td class="muted">',
        html,
        re.S,
    )


def test_the_api_and_the_service_page_list_the_same_entries_in_the_same_order_for_the_same_window(api, web, ledger):
    from_api = _api_pages(api, ledger, 100)
    html = web.get(f"/services/{ledger.pk}/events/", WINDOW, **HX).content.decode()
    assert _page_rows(html) == from_api == EXPECTED
    service_page = web.get(f"/services/{ledger.pk}/", WINDOW).content.decode()
    assert _page_rows(service_page) == from_api


def test_the_pages_show_more_continues_across_the_tie_like_the_api(ledger):
    from changetrack.web import events, timeline

    q = timeline.Query(since=AT - timedelta(hours=1), until=AT + timedelta(hours=1), depth=0)
    lanes = timeline.lanes_for(ledger, 0)
    seen, cursor = [], None
    for _ in range(len(EXPECTED)):
        rows, cursor = events.page(lanes, q, cursor, size=2)
        seen += [(row["type"], row.get("summary") or row["title"]) for row in rows]
        if cursor is None:
            break
        # the "Show more" link carries the cursor, and the page reads it back to the same position
        after = parse_qs(urlparse(events.more_url(ledger.pk, q, cursor)).query)["after"][0]
        assert events.decode(after) == cursor
    assert seen == EXPECTED


def _encoded(text: bytes) -> str:
    return base64.urlsafe_b64encode(text).decode()


MALFORMED = [
    "!!",
    "not base64 at all",
    _encoded(b"2026-11-21T10:00:00+00:00|7|5"),  # no such table
    _encoded(b"2026-11-21T10:00:00|2|5"),  # no offset
    _encoded(b"2026-11-21T10:00:00+00:00|2|-5"),
    _encoded(b"2026-11-21T10:00:00+00:00|2"),
    _encoded(b"yesterday|2|5"),
    _encoded(b"\xff\xfe|2|5"),
    "2026-11-21T10:00:00+00:00~0~5",  # the pages' former cursor
]


@pytest.mark.parametrize("cursor", MALFORMED)
def test_a_malformed_cursor_is_a_400_from_the_api(api, ledger, cursor):
    response = api.get(f"/api/v1/services/{ledger.pk}/timeline", {**WINDOW, "cursor": cursor})
    assert response.status_code == 400
    assert response["Content-Type"].startswith("application/problem+json")
    assert any(e["field"] == "cursor" for e in response.json()["errors"])


@pytest.mark.parametrize("cursor", MALFORMED)
def test_a_malformed_cursor_on_the_page_shows_the_first_page(web, ledger, cursor):
    response = web.get(f"/services/{ledger.pk}/events/", {**WINDOW, "after": cursor}, **HX)
    assert response.status_code == 200
    assert _page_rows(response.content.decode()) == EXPECTED
    feed = web.get("/changes/", {"minutes": 60, "after": cursor})
    assert feed.status_code == 200
