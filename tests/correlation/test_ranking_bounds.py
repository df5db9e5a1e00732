"""The early stop of the scorer (rows taken in order of an upper bound, skipped once even their best case cannot
enter the top) leaves the ranking as if every candidate had been scored."""

import pytest
from django.core.management import call_command

from changetrack.correlation import engine
from changetrack.models import Alert, Change, HealthEpisode

from .helpers import NOW, alert, change, depends, minutes, service

pytestmark = pytest.mark.django_db


def _view(ranked: list[engine.Ranked]) -> list[tuple[int, float, list[str], dict[str, float]]]:
    return [(r.change.id, r.score, r.reasons, r.components) for r in ranked]


def test_the_top_three_of_every_demo_alert_are_the_head_of_its_ranking_with_every_candidate_scored():
    call_command("load_demo", stdout=open("/dev/null", "w"))
    # a failed rollout: its 'failed' term is part of the best case the scorer skips by
    change("rest-api", "deploy", NOW - minutes(20), status="failed", external_id="t-failed-rollout")
    alerts = list(Alert.objects.all())
    assert alerts and Change.objects.count() < 100  # one page holds every candidate, whatever the limit
    compared = 0
    for a in alerts:
        everything = engine.rank(a, limit=1000)  # nothing skipped: the top is never full
        top = engine.rank(a, limit=3)
        assert _view(top) == _view(everything[:3])
        compared += len(everything) > 3
    assert compared  # some rankings had rows below the top to skip


def test_a_failed_rollout_and_a_crash_after_a_change_lift_rows_read_after_the_top_was_full():
    for name in "abcde":
        depends("api", name)
        # an old episode on every service: the query's bound gives them all the same health allowance
        HealthEpisode.objects.create(
            service=service(name), reason="OOMKilled", summary="oom", started_at=NOW - minutes(100), last_seen_at=NOW
        )
    # deploys at their kind's highest risk (image and a deep replica cut): the plain ones score their best case
    big = (
        {"path": "spec.template.spec.containers[app].image", "before": "img:1", "after": "img:2"},
        {"path": "spec.replicas", "before": 10, "after": 1},
    )
    for name in "ade":
        change(name, "deploy", NOW - minutes(20), diff=big)
    # a minute older than the plain deploys, so read after them, and each lifted by what followed it
    crashed = change("b", "deploy", NOW - minutes(21), diff=big)
    HealthEpisode.objects.create(
        service=service("b"), reason="CrashLoopBackOff", summary="crash", started_at=NOW - minutes(18), last_seen_at=NOW
    )
    failed = change("c", "deploy", NOW - minutes(21), status="failed", diff=big)
    a = alert("api", NOW)
    everything = engine.rank(a, limit=1000)
    assert {r.change.id for r in everything[:2]} == {crashed.pk, failed.pk}
    assert _view(engine.rank(a, limit=2)) == _view(everything[:2])
