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


def test_the_candidate_querys_bound_is_never_below_the_score_of_its_row():
    """The query reads a failed rollout (from the status or from ``details.rollout.status``) and a service's health
    window itself: each row's bound must still hold its score, or a row the page left out could have won."""
    depends("api", "db")
    depends("web", "api")
    for i, (name, at) in enumerate([("api", 50), ("db", 5), ("db", 90), ("web", 30), ("api", 400), ("db", 700)]):
        change(name, "deploy", NOW - minutes(at), external_id=f"plain-{i}")
    # at their kind's highest risk, so the failed term is what the bound must still hold
    big = (
        {"path": "spec.template.spec.containers[app].image", "before": "img:1", "after": "img:2"},
        {"path": "spec.replicas", "before": 10, "after": 1},
    )
    change("db", "deploy", NOW - minutes(12), status="failed", external_id="failed-status", diff=big)
    change("api", "config", NOW - minutes(33), details={"rollout": {"status": "Progress Deadline Exceeded"}}, diff=big)
    change("web", "rollback", NOW - minutes(8), details={"rollout": {"status": "failed"}}, diff=big)
    change("db", "deploy", NOW - minutes(4), diff=big)  # followed by the crash 1 minute later
    change("db", "ci", NOW - minutes(6), status="failed")  # a failed CI job is no failed rollout
    for name, at in (("db", 3), ("api", 25), ("web", 650)):  # within minutes of some changes, hours from others
        HealthEpisode.objects.create(
            service=service(name),
            reason="CrashLoopBackOff",
            summary="crash",
            started_at=NOW - minutes(at),
            last_seen_at=NOW,
        )
    ranked = engine.rank(alert("api", NOW), limit=1000)
    assert len(ranked) >= 10
    assert {r.components["failed"] for r in ranked} == {0.0, 1.0} and max(r.components["health"] for r in ranked) > 0
    for r in ranked:
        assert r.change.bound >= r.score - 1e-9, (r.change, r.score, r.components)


@pytest.mark.parametrize(
    ("kind", "status", "details", "stored"),
    [
        ("deploy", "", {"rollout": {"status": "Progress Deadline Exceeded"}}, "failed"),
        ("config", "succeeded", {"rollout": {"status": "failed"}}, "failed"),  # the rollout said otherwise
        ("deploy", "Degraded", {"rollout": {"status": "failed"}}, "Degraded"),  # already says it: kept as sent
        ("deploy", "succeeded", {"rollout": {"status": "complete"}}, "succeeded"),
        ("ci", "succeeded", {"rollout": {"status": "failed"}}, "succeeded"),  # a CI job rolls nothing out
        ("deploy", "", {"rollout": "failed"}, ""),  # not the documented shape: nothing read
    ],
)
def test_a_rollout_failed_in_details_only_is_stored_as_failed_so_the_candidate_query_sees_it(
    kind: str, status: str, details: dict, stored: str
):
    c = change("api", kind, NOW - minutes(5), status=status, details=details)
    assert Change.objects.get(pk=c.pk).status == stored
