"""An alert's notice from its stored suspects: the top three that stand out, with verdicts and absolute links."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from changetrack.correlation import suspects
from changetrack.models import Alert, Change, Feedback, Service
from changetrack.notify import content

pytestmark = pytest.mark.django_db

AT = datetime(2026, 11, 21, 10, 0, tzinfo=UTC)


@pytest.fixture
def alert():
    service = Service.objects.create(namespace="shop", name="checkout")
    return Alert.objects.create(
        source="s", external_id="a", title="Errors", service=service, started_at=AT, last_event_at=AT
    )


def stored(alert: Alert, scores: list[float]) -> list[Change]:
    changes = [
        Change.objects.create(
            source="s",
            external_id=f"c{i}",
            kind="deploy",
            occurred_at=AT - timedelta(minutes=5 * (i + 1)),
            summary=f"Deploy {i}",
            service=alert.service,
        )
        for i in range(len(scores))
    ]
    rows = [
        (c.pk, s, 0, "self", ["checkout"], {}, [f"reason {c.pk}", "second", "third"])
        for c, s in zip(changes, scores, strict=True)
    ]
    suspects.replace(alert.pk, AT, rows)
    return changes


def test_the_notice_holds_the_top_three_with_two_reasons_and_absolute_links(alert, settings):
    settings.PUBLIC_URL = "https://ct.example"
    changes = stored(alert, [0.9, 0.6, 0.4, 0.3, 0.2])
    notice = content.build(alert)
    assert [s.change_id for s in notice.suspects] == [c.pk for c in changes[:3]]
    assert notice.suspect_count == 5
    first = notice.suspects[0]
    assert first.reasons == (f"reason {changes[0].pk}", "second")
    assert (first.minutes_before, first.service, first.url) == (
        5.0,
        "shop/checkout",
        f"https://ct.example/changes/{changes[0].pk}/",
    )
    assert notice.url == f"https://ct.example/alerts/{alert.pk}/"


def test_suspects_below_the_threshold_are_left_out_so_the_message_says_no_change_stands_out(alert):
    stored(alert, [content.STANDS_OUT / 2, content.STANDS_OUT / 3])
    notice = content.build(alert)
    assert notice.suspects == () and notice.suspect_count == 2


def test_suspects_below_the_rankers_calibrated_threshold_are_left_out_too(alert):
    from changetrack.correlation import engine

    threshold = engine.stands_out_threshold()
    assert threshold > content.STANDS_OUT
    changes = stored(alert, [threshold + 0.01, threshold - 0.01])
    assert [s.change_id for s in content.build(alert).suspects] == [changes[0].pk]
    stored(alert, [threshold - 0.01])  # the top suspect below it: "no change stands out"
    assert content.build(alert).suspects == ()


def test_a_verdict_and_its_author_are_part_of_the_notice_and_change_its_digest(alert):
    changes = stored(alert, [0.9])
    before = content.digest(content.build(alert))
    Feedback.objects.create(alert=alert, change_id=changes[0].pk, verdict="caused", author="@maria")
    notice = content.build(alert)
    assert (notice.suspects[0].verdict, notice.suspects[0].verdict_by) == ("caused", "@maria")
    assert content.digest(notice) != before
    assert content.digest(content.build(alert)) == content.digest(notice)  # same content, same digest
