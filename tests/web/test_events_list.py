"""The list under the timeline: a page of rows at a time, "Show more" for the rest, every event exactly once."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.utils import timezone

from changetrack.ingest.store import store_records
from changetrack.models import Alert, Change, HealthEpisode, Service
from changetrack.web.events import PAGE_ROWS
from integrations.base import AlertRecord, ChangeRecord, ServiceHint

pytestmark = pytest.mark.django_db

HINT = ServiceHint(name="ledger", namespace="money", cluster="prod", create=True)
HX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def busy():
    """A service with 2 × PAGE_ROWS + 7 changes in the last hour (ten of them at one instant), one alert and one
    health episode."""
    now = timezone.now().replace(microsecond=0)
    records = [
        ChangeRecord(
            source="api",
            external_id=f"c{i}",
            kind="deploy" if i % 2 else "config",
            occurred_at=now - timedelta(seconds=20 * i),
            summary=f"change number {i}",
            service=HINT,
        )
        for i in range(2 * PAGE_ROWS - 3)
    ]
    tied = now - timedelta(seconds=870)  # 46 rows are newer: ten changes at one instant straddle the first page break
    records += [
        ChangeRecord(
            source="api", external_id=f"tie{i}", kind="scale", occurred_at=tied, summary=f"tie {i}", service=HINT
        )
        for i in range(10)
    ]
    store_records(records)
    store_records(
        [
            AlertRecord(
                source="demo",
                external_id="a1",
                title="ledger is slow",
                status="triggered",
                occurred_at=now - timedelta(minutes=5),
                service=HINT,
            )
        ]
    )
    service = Service.objects.get(name="ledger")
    HealthEpisode.objects.create(
        source="kubernetes",
        service=service,
        reason="CrashLoopBackOff",
        summary="pods restarting",
        started_at=now - timedelta(minutes=7),
        last_seen_at=now,
    )
    return service


def _summaries(html: str) -> list[str]:
    return re.findall(
        r'<tr class="ev-\w+">.*?<td>(?:<a href="[^"]*">)?([^<]+)(?:</a>)?</td><td>[^<]*</td><td class="muted">',
        html,
        re.S,
    )


def _more(html: str) -> str:
    found = re.search(r'<tr class="more-row">.*?hx-get="([^"]+)"', html, re.S)
    return found.group(1).replace("&amp;", "&") if found else ""


def test_the_service_page_lists_one_page_and_offers_the_rest(web, busy):
    html = web.get(f"/services/{busy.pk}/?range=1h&depth=0").content.decode()
    assert len(_summaries(html)) == PAGE_ROWS
    assert _more(html).startswith(f"/services/{busy.pk}/events/?")
    assert "change number 0" in _summaries(html) and "change number 90" not in _summaries(html)


def test_show_more_pages_through_every_event_exactly_once_newest_first(web, busy):
    html = web.get(f"/services/{busy.pk}/?range=1h&depth=0").content.decode()
    seen = _summaries(html)
    url, pages = _more(html), 1
    while url:
        fragment = web.get(url, **HX).content.decode()
        assert "<table" not in fragment  # rows that replace the "Show more" row, not a new table
        seen += _summaries(fragment)
        url, pages = _more(fragment), pages + 1
    changes = list(
        Change.objects.filter(service=busy).order_by("-occurred_at", "-id").values_list("summary", flat=True)
    )
    assert pages == 3
    assert sorted(seen) == sorted([*changes, "ledger is slow", "pods restarting"])
    assert [s for s in seen if s in changes] == changes  # newest first, ties by id, none lost at the page break


def test_a_page_of_the_list_without_javascript_is_a_page_of_its_own(web, busy):
    html = web.get(f"/services/{busy.pk}/?range=1h&depth=0").content.decode()
    page = web.get(_more(html)).content.decode()
    assert "<html" in page and "Events of ledger" in page and len(_summaries(page)) == PAGE_ROWS


def test_the_chart_script_gets_the_first_page_of_a_new_window(web, busy):
    now = timezone.now()
    window = {"since": (now - timedelta(minutes=6)).isoformat(), "until": now.isoformat(), "depth": 0}
    fragment = web.get(f"/services/{busy.pk}/events/", window, **HX).content.decode()
    assert "<table" in fragment
    summaries = _summaries(fragment)
    assert "ledger is slow" in summaries and "pods restarting" in summaries  # started before the window, still open
    assert all(int(s.split()[-1]) <= 18 for s in summaries if s.startswith("change number"))
    assert not _more(fragment)


def test_kind_filters_apply_to_every_page(web, busy):
    html = web.get(f"/services/{busy.pk}/?range=1h&depth=0&kind=scale").content.decode()
    assert [s for s in _summaries(html) if s.startswith(("change", "tie"))] == [f"tie {i}" for i in range(9, -1, -1)]
    assert not _more(html)


@pytest.mark.parametrize("after", ["garbage", "2026-01-01T00:00:00~x~1", "2026-01-01T00:00:00~0~1", "~~"])
def test_a_malformed_cursor_shows_the_first_page(web, busy, after):
    response = web.get(f"/services/{busy.pk}/events/", {"range": "1h", "depth": 0, "after": after}, **HX)
    assert response.status_code == 200
    assert "change number 0" in response.content.decode()


def test_the_alert_page_offers_the_rest_of_its_window_too(web, busy):
    alert = Alert.objects.get(external_id="a1")
    html = web.get(f"/alerts/{alert.pk}/?range=1h").content.decode()
    assert _more(html).startswith(f"/services/{busy.pk}/events/?")


def test_the_events_of_an_unknown_service_are_a_404(web):
    assert web.get("/services/999999/events/").status_code == 404


def test_events_at_one_instant_on_different_layers_page_without_loss(busy):
    from changetrack.web import events, timeline

    alert = Alert.objects.get(external_id="a1")
    episode = HealthEpisode.objects.get(service=busy)
    HealthEpisode.objects.filter(pk=episode.pk).update(started_at=alert.started_at)  # all three at one instant
    store_records(
        [
            ChangeRecord(
                source="api", external_id="same", kind="deploy", occurred_at=alert.started_at, summary="x", service=HINT
            )
        ]
    )
    q = timeline.Query(since=alert.started_at, until=alert.started_at + timedelta(seconds=1), depth=0)
    lanes = timeline.lanes_for(busy, 0)
    seen, after = [], None
    for _ in range(5):
        rows, after = events.page(lanes, q, after, size=1)
        seen += [row["type"] for row in rows]
        if after is None:
            break
    same_instant = Change.objects.filter(service=busy, occurred_at=alert.started_at).count()
    assert same_instant == 2  # "change number 15" was already there
    assert seen == ["change", "change", "alert", "health"]  # the shared order at one instant (changetrack.timeline)
