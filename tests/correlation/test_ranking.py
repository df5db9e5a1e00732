import random
import threading

import pytest
from django.core.management import call_command
from django.db import connection

from changetrack.correlation import engine, scoring
from changetrack.correlation.graph import relations
from changetrack.models import Alert, Change, Feedback, HealthEpisode, Service, Suspect

from .helpers import NOW, alert, change, depends, minutes, service

pytestmark = pytest.mark.django_db


def _order(a: Alert) -> list[int]:
    return [s.change_id for s in engine.current_suspects(a, limit=50)]


def test_the_demo_incident_ranks_the_rest_api_replica_cut_first_above_the_own_deploy_and_the_autoscale():
    call_command("load_demo", stdout=open("/dev/null", "w"))
    a = Alert.objects.get(source="datadog", external_id="demo-dd-cycle-1")
    suspects = engine.current_suspects(a, limit=50)
    by_ext = {Change.objects.get(pk=s.change_id).external_id: s for s in suspects}
    top = suspects[0]
    assert Change.objects.get(pk=top.change_id).external_id == "demo-rest-deploy"
    assert top.rank == 1 and top.hops == 1 and top.path == ["data-processor", "rest-api"]
    assert by_ext["demo-dp-deploy"].rank > 1 and by_ext["demo-proc-autoscale"].rank > 1
    assert top.score > by_ext["demo-dp-deploy"].score > 0
    assert top.score > by_ext["demo-proc-autoscale"].score
    assert by_ext["demo-rest-commit"].score < top.score and by_ext["demo-rest-ci"].score < top.score
    assert "Deployed 10 min before the alert" in top.reasons
    assert "data-processor depends on rest-api (env var REST_API_URL)" in top.reasons
    assert any(r.startswith("replicas 50 → 5") for r in top.reasons)
    assert set(top.components) >= {"time", "graph", "risk", "feedback"}
    assert by_ext["demo-dp-deploy"].components["time"] > 0.05  # 10 h before is not zero


def test_a_change_on_a_dependency_outranks_the_same_change_on_a_caller_and_both_are_ranked():
    depends("api", "db-proxy")  # the alerting service calls db-proxy
    depends("batch", "api")  # batch calls the alerting service
    callee = change("db-proxy", "deploy", NOW - minutes(12))
    caller = change("batch", "deploy", NOW - minutes(12))
    a = alert("api", NOW)
    ranked = engine.rank(a)
    ids = [r.change.id for r in ranked]
    assert ids.index(callee.pk) < ids.index(caller.pk)
    reasons = ranked[ids.index(caller.pk)].reasons
    assert "batch calls api: a change there can overload it" in reasons


def test_a_transitive_dependency_three_hops_down_is_a_candidate_and_four_hops_is_only_an_unlinked_one():
    depends("web", "api")
    depends("api", "core")
    depends("core", "db")
    depends("db", "storage")
    far = change("db", "config", NOW - minutes(5), diff=({"path": "data.POOL", "before": "10", "after": "1"},))
    too_far = change("storage", "config", NOW - minutes(5))
    a = alert("web", NOW)
    ranked = {r.change.id: r for r in engine.rank(a)}
    assert far.pk in ranked and ranked[far.pk].hops == 3
    assert ranked[far.pk].path == ["web", "api", "core", "db"]
    # beyond three hops the graph says nothing: admitted only through the shared namespace, low and labelled so
    if too_far.pk in ranked:
        assert ranked[too_far.pk].direction == "none" and ranked[too_far.pk].score < ranked[far.pk].score
        assert "No known dependency: same namespace (shop)" in ranked[too_far.pk].reasons


def test_a_change_on_a_teammates_service_with_no_known_edge_is_admitted_low_and_labelled():
    depends("checkout", "payments")
    linked = change("payments", "deploy", NOW - minutes(10))
    hidden = change("ledger", "deploy", NOW - minutes(10))  # no edge anywhere: nobody declared it
    a = alert("checkout", NOW)
    Service.objects.filter(name__in=["checkout", "ledger"]).update(team="money")
    ranked = {r.change.id: r for r in engine.rank(a)}
    assert ranked[linked.pk].score > ranked[hidden.pk].score > 0
    assert ranked[hidden.pk].direction == "none" and ranked[hidden.pk].path == ["checkout", "ledger"]
    assert "No known dependency: same team (money)" in ranked[hidden.pk].reasons


def test_a_service_whose_change_was_confirmed_as_a_cause_with_no_known_edge_is_a_candidate_from_then_on():
    """Nothing links billing (another namespace, no team) to checkout: its changes are no candidates, until a
    responder confirms one caused a checkout alert. Then billing's later changes are, labelled with why."""
    from changetrack.correlation import feedback

    billing = {"namespace": "finance"}
    first = change("billing", "config", NOW - minutes(600), external_id="b-1", **billing)
    earlier = alert("checkout", NOW - minutes(590))
    assert first.pk not in {r.change.id for r in engine.rank(earlier, limit=50)}
    assert first.service.namespace == "finance"
    feedback.record(earlier, first.pk, "caused", "dana")  # as from the alert page: "it was this one"
    later = change("billing", "config", NOW - minutes(8), external_id="b-2", **billing)
    ranked = {r.change.id: r for r in engine.rank(alert("checkout", NOW), limit=50)}
    assert later.pk in ranked and ranked[later.pk].direction == "none"
    assert any(
        r.startswith("No known dependency: its changes were confirmed as the cause of 1 earlier alert here")
        for r in ranked[later.pk].reasons
    )
    # the verdict undone (deleted), billing is no candidate again
    Feedback.objects.all().delete()
    assert later.pk not in {r.change.id for r in engine.rank(alert("checkout", NOW + minutes(1)), limit=50)}


def test_a_sibling_through_a_shared_dependency_ranks_below_a_direct_dependency():
    depends("checkout", "rest-api")
    depends("reports", "rest-api")
    direct = change("rest-api", "config", NOW - minutes(30))
    sibling = change("reports", "config", NOW - minutes(30))
    a = alert("checkout", NOW)
    ranked = {r.change.id: r for r in engine.rank(a)}
    assert ranked[direct.pk].score > ranked[sibling.pk].score > 0


def test_a_change_stored_late_with_an_earlier_timestamp_is_in_the_next_answer():
    depends("api", "cache")
    change("api", "autoscale", NOW - minutes(4), diff=({"path": "spec.replicas", "before": 3, "after": 4},))
    a = alert("api", NOW)
    engine.rank_and_store(a.pk)
    a.refresh_from_db()
    late = change("cache", "deploy", NOW - minutes(9))  # arrives after the ranking
    suspects = engine.current_suspects(a)
    assert suspects[0].change_id == late.pk


def test_a_dependency_declared_after_the_ranking_brings_its_changes_into_the_next_answer():
    change("api", "autoscale", NOW - minutes(4), diff=({"path": "spec.replicas", "before": 3, "after": 4},))
    cache_deploy = change("cache", "deploy", NOW - minutes(9))  # not related to api yet
    a = alert("api", NOW)
    engine.rank_and_store(a.pk)
    a.refresh_from_db()
    before = {s.change_id: s for s in engine.current_suspects(a)}
    # same namespace, no known edge: admitted with a low prior at most, and labelled so
    assert (
        cache_deploy.pk not in before or "No known dependency: same namespace (shop)" in before[cache_deploy.pk].reasons
    )
    depends("billing", "ledger")  # elsewhere in the graph: the stored ranking still holds
    assert not engine.is_stale(a)
    depends("api", "cache", provenance="declared")
    assert engine.is_stale(a)
    top = engine.current_suspects(a)[0]
    assert top.change_id == cache_deploy.pk and "api depends on cache (env var CACHE_URL)" in top.reasons


def test_an_unrelated_verdict_and_a_confirmed_cause_change_the_order():
    from changetrack.correlation import feedback

    depends("api", "auth")
    strong = change("auth", "deploy", NOW - minutes(5))
    weak = change("api", "config", NOW - minutes(200))
    a = alert("api", NOW)
    assert _order(a)[0] == strong.pk
    feedback.record(a, strong.pk, "unrelated", "dana")
    a.refresh_from_db()
    assert _order(a)[0] == weak.pk
    feedback.record(a, strong.pk, "caused", "dana")
    a.refresh_from_db()
    top = engine.current_suspects(a)[0]
    assert top.change_id == strong.pk and top.score == 1.0
    assert "Confirmed as the cause of this alert" in top.reasons


def test_a_confirmed_cause_on_a_similar_past_alert_raises_the_same_kind_of_change_on_that_service():
    from changetrack.correlation import feedback

    depends("api", "flags")
    depends("api", "search")
    old_cause = change("flags", "feature_flag", NOW - minutes(3000))
    old = alert("api", NOW - minutes(2990), title="Latency high")
    feedback.record(old, old_cause.pk, "caused", "lee")
    flag = change("flags", "feature_flag", NOW - minutes(40))
    cfg = change("search", "feature_flag", NOW - minutes(30))
    new = alert("api", NOW, title="Latency high")
    ranked = {r.change.id: r for r in engine.rank(new)}
    assert ranked[flag.pk].score > ranked[cfg.pk].score
    assert ranked[flag.pk].components["feedback"] > 0
    assert any("caused 2 similar alerts" in r for r in ranked[flag.pk].reasons)


def test_a_health_episode_right_after_a_change_and_a_failed_rollout_raise_it_as_evidence_of_their_own():
    depends("api", "a")
    depends("api", "b")
    depends("api", "c")
    plain = change("a", "deploy", NOW - minutes(20))
    crashed = change("b", "deploy", NOW - minutes(20))
    failed = change("c", "deploy", NOW - minutes(20), status="failed")
    HealthEpisode.objects.create(
        service=service("b"), reason="CrashLoopBackOff", summary="crash", started_at=NOW - minutes(17), last_seen_at=NOW
    )
    ranked = {r.change.id: r for r in engine.rank(alert("api", NOW))}
    assert ranked[crashed.pk].score > ranked[plain.pk].score and ranked[failed.pk].score > ranked[plain.pk].score
    # what followed the change is weighed apart from what changed (same deploy, same magnitude)
    assert ranked[crashed.pk].components["health"] == 1.0 and ranked[plain.pk].components["health"] == 0.0
    assert ranked[failed.pk].components["failed"] == 1.0 and ranked[plain.pk].components["failed"] == 0.0
    assert {ranked[c.pk].components["risk"] for c in (plain, crashed, failed)} == {ranked[plain.pk].components["risk"]}
    assert "CrashLoopBackOff started on the changed service 3 min after it" in ranked[crashed.pk].reasons
    assert "rollout failed" in ranked[failed.pk].reasons


def test_an_undeployed_commit_and_a_ci_run_rank_below_a_config_change():
    sha = "abcdef1234567890"
    commit = change("api", "commit", NOW - minutes(10), commit_sha=sha)
    ci = change("api", "ci", NOW - minutes(10), summary="api-build #12 SUCCESS", status="succeeded")
    cfg = change("api", "config", NOW - minutes(60))
    ranked = {r.change.id: r for r in engine.rank(alert("api", NOW))}
    assert ranked[cfg.pk].score > ranked[commit.pk].score and ranked[cfg.pk].score > ranked[ci.pk].score
    assert "commit not deployed yet" in ranked[commit.pk].reasons


def test_the_correlation_window_is_configurable_per_service_and_per_kind():
    change("api", "deploy", NOW - minutes(10))
    Service.objects.filter(name="api").update(
        settings={"correlation_window_minutes": 180, "correlation_window_by_kind": {"config": 30}}
    )
    old_deploy = change("api", "deploy", NOW - minutes(170))
    old_config = change("api", "config", NOW - minutes(45))
    outside = change("api", "deploy", NOW - minutes(240))
    ids = {r.change.id for r in engine.rank(alert("api", NOW), limit=50)}
    assert old_deploy.pk in ids and old_config.pk not in ids and outside.pk not in ids


def test_a_change_a_few_minutes_after_the_alert_is_kept_for_clock_skew_but_not_an_hour_after():
    skewed = change("api", "deploy", NOW + minutes(2))
    later = change("api", "deploy", NOW + minutes(60))
    ids = {r.change.id for r in engine.rank(alert("api", NOW))}
    assert skewed.pk in ids and later.pk not in ids


def test_a_change_seconds_before_the_alert_ranks_below_the_same_change_minutes_before():
    at_once = change("api", "config", NOW - minutes(0.2))
    minutes_before = change("api", "config", NOW - minutes(6))
    assert _order(alert("api", NOW))[:2] == [minutes_before.pk, at_once.pk]


def test_a_change_minutes_after_the_alert_ranks_below_one_an_hour_before_it():
    after = change("api", "deploy", NOW + minutes(4))  # most likely a response to the alert
    before = change("api", "deploy", NOW - minutes(60))
    assert _order(alert("api", NOW))[:2] == [before.pk, after.pk]


def test_a_crash_right_after_a_change_counts_against_it_more_than_one_25_minutes_after():
    soon = change("api", "config", NOW - minutes(90))
    late = change("db", "config", NOW - minutes(90))
    depends("api", "db")
    for name, after in (("api", 3), ("db", 25)):
        HealthEpisode.objects.create(
            service=service(name),
            reason="CrashLoopBackOff",
            summary="crash",
            started_at=NOW - minutes(90 - after),
            last_seen_at=NOW - minutes(90 - after),
        )
    ranked = {r.change.id: r for r in engine.rank(alert("api", NOW))}
    assert ranked[soon.pk].components["health"] == 1.0
    assert ranked[late.pk].components["health"] == 0.25  # 25 min after: a quarter of the way from 30 to 10
    assert ranked[soon.pk].score > ranked[late.pk].score


def test_scores_stay_between_zero_and_one_whatever_the_change_says():
    rng = random.Random(7)
    depends("api", "dep")
    depends("caller", "api")
    weird = [None, "", "abc", -5, 0, 10**9, True, [1], {"x": 1}, 3.5, "50"]
    made = []
    for i in range(60):
        diff = [
            {
                "path": rng.choice(["spec.replicas", "spec.template.spec.containers[x].image", "data.K", 7]),
                "before": rng.choice(weird),
                "after": rng.choice(weird),
            }
            for _ in range(rng.randint(0, 3))
        ]
        if i % 7 == 0:
            diff = [{"before": 50}, {"path": None, "after": {"nested": [1]}}]
        details = rng.choice([{}, {"rollout": {"status": "failed"}}, {"rollout": "odd"}, {"deployed": True}])
        made.append(
            change(
                rng.choice(["api", "dep", "caller"]),
                rng.choice(list(scoring.RISK_BASE)),
                NOW - minutes(rng.uniform(-4, 1400)),
                diff=diff,
                details=details,
                status=rng.choice(["", "failed", "succeeded", "weird"]),
            )
        )
    ranked = engine.rank(alert("api", NOW), limit=100)
    # every change of the last 12 h is ranked whatever it says; older ones only while they can still reach
    # ``MIN_SCORE`` (a commit on a caller a day ago cannot)
    recent = {c.pk for c in made if c.occurred_at >= NOW - minutes(720)}
    assert recent <= {r.change.id for r in ranked} and len(ranked) >= 50
    for r in ranked:
        assert 0.0 <= r.score <= 1.0
        assert all(0.0 <= v <= 1.0 for k, v in r.components.items() if k != "feedback")
        assert -1.0 <= r.components["feedback"] <= 1.0
        assert r.reasons and all(isinstance(x, str) and x for x in r.reasons)


def test_stored_suspects_are_ranked_from_one_and_recomputed_only_when_stale():
    change("api", "deploy", NOW - minutes(10))
    a = alert("api", NOW)
    first = engine.current_suspects(a)
    a.refresh_from_db()
    assert [s.rank for s in first] == [1] and a.suspects_computed_at is not None
    assert not engine.is_stale(a)
    assert Suspect.objects.filter(alert=a).count() == 1


def test_relations_pick_the_strongest_path_and_merge_edge_provenances():
    depends("a", "b", provenance="declared", evidence="declared via API", confidence=1.0)
    depends("a", "b", provenance="learned", evidence="4 alerts on a followed changes on b in 30 days", confidence=0.4)
    rel = relations(service("a").pk)[service("b").pk]
    step, forward = rel.steps[0]
    assert forward and rel.direction == "down" and step.confidence == 1.0
    assert set(step.provenances) == {"declared", "learned"}


def test_a_health_episode_counts_against_the_latest_change_before_it_only():
    earlier = change("api", "deploy", NOW - minutes(25))
    latest = change("api", "config", NOW - minutes(12))
    change("api", "autoscale", NOW - minutes(10), diff=({"path": "spec.replicas", "before": 3, "after": 4},))
    HealthEpisode.objects.create(
        service=service("api"), reason="OOMKilled", summary="oom", started_at=NOW - minutes(8), last_seen_at=NOW
    )
    ranked = {r.change.id: r for r in engine.rank(alert("api", NOW))}
    assert "OOMKilled started on the changed service 4 min after it" in ranked[latest.pk].reasons
    assert not any("OOMKilled" in r for r in ranked[earlier.pk].reasons)


def test_the_top_few_are_the_same_whether_few_or_many_are_asked_for():
    rng = random.Random(3)
    for name in ("dep1", "dep2", "dep3"):
        depends("api", name)
    depends("caller", "api")
    depends("sibling", "dep1")  # weakly related: read in two phases
    for _ in range(120):
        change(
            rng.choice(["api", "dep1", "dep2", "dep3", "caller", "sibling", "sibling"]),
            rng.choice(["deploy", "config", "autoscale", "ci", "commit", "feature_flag", "scale"]),
            NOW - minutes(rng.uniform(0, 1400)),
            diff=({"path": "spec.replicas", "before": rng.randint(1, 50), "after": rng.randint(1, 50)},),
        )
    a = alert("api", NOW)
    many = engine.rank(a, limit=200)
    # a weakly related service's changes are read in two phases (the last hour first, older ones only as far back
    # as they could still reach the list); under the shipped weights its older ones fall below ``MIN_SCORE``
    assert any(r.path[-1] == "sibling" for r in many)
    for k in (1, 5, 20):
        assert [r.change.id for r in engine.rank(a, limit=k)] == [r.change.id for r in many[:k]]
    assert [r.score for r in many] == sorted((r.score for r in many), reverse=True)


def test_a_confirmed_cause_is_ranked_first_even_when_old_and_weakly_related():
    from changetrack.correlation import feedback

    depends("api", "hub")
    depends("other", "hub")
    depends("far", "other")  # far: 3 hops, mixed direction
    old = change("far", "config", NOW - minutes(23 * 60))
    change("api", "deploy", NOW - minutes(5))
    a = alert("api", NOW)
    feedback.record(a, old.pk, "caused", "sam")
    a.refresh_from_db()
    top = engine.current_suspects(a)[0]
    assert top.change_id == old.pk and top.score == 1.0 and top.hops == 3


def test_an_alert_on_the_changed_service_right_after_the_change_raises_it():
    depends("api", "db")
    depends("api", "queue")
    quiet = change("queue", "deploy", NOW - minutes(15))
    noisy = change("db", "deploy", NOW - minutes(15))
    alert("db", NOW - minutes(11), title="db latency high")
    ranked = {r.change.id: r for r in engine.rank(alert("api", NOW))}
    assert ranked[noisy.pk].score > ranked[quiet.pk].score
    assert "Alert \u201cdb latency high\u201d started on the changed service 4 min after it" in ranked[noisy.pk].reasons


@pytest.mark.django_db(transaction=True)
def test_rankings_of_one_alert_running_at_once_leave_one_whole_list():
    depends("api", "db")
    made = [change("db", "config", NOW - minutes(10 + i)) for i in range(12)]  # most recent first
    a = alert("api", NOW)
    errors: list[BaseException] = []

    def run() -> None:
        try:
            engine.rank_and_store(a.pk)
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    stored = list(Suspect.objects.filter(alert=a).order_by("rank").values_list("rank", "change_id"))
    assert [r for r, _ in stored] == list(range(1, engine.STORED + 1))
    assert [c for _, c in stored] == [m.pk for m in made[: engine.STORED]]


def test_the_candidate_querys_bound_with_the_early_factor_is_never_below_a_score():
    depends("api", "db")
    depends("caller", "api")
    rng = random.Random(11)
    for i in range(40):
        change(
            rng.choice(["api", "db", "caller"]),
            rng.choice(["deploy", "config", "feature_flag", "scale", "infra", "autoscale"]),
            NOW - minutes(rng.choice([0.2, 0.5, 1, 2, 3, 5, 8, 13, 30, 90]) + i / 100),
            status=rng.choice(["", "failed"]),
        )
    ranked = engine.rank(alert("api", NOW), limit=40)
    assert len(ranked) == 40
    assert all(r.change.bound >= r.score - 1e-4 for r in ranked)
    assert any(r.change.bound < 0.999 for r in ranked if r.components["early"] > 0.5)  # it tightens
