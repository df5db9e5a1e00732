"""Scoring and reasons as tables: inputs → the values and orderings they must give. Pure functions, so no test here
is marked ``django_db`` (pytest-django refuses any query they would make). The values follow the formulas in
``changetrack.correlation.scoring``'s docstring; a changed constant or formula fails a row."""

from __future__ import annotations

import pytest

from changetrack.correlation import reasons
from changetrack.correlation.graph import DOWN, MIXED, NONE, SELF, UP, Edge, Relation
from changetrack.correlation.model import Candidate, shipped
from changetrack.correlation.scoring import (
    Facts,
    envelope,
    feedback_score,
    final_score,
    fmt_minutes,
    risk,
    time_score,
)

# --- time: detection ramp, two-speed decay, clock skew -----------------------------------------------------------


@pytest.mark.parametrize(
    ("minutes_before", "expected"),
    [
        (-10, 0.0040),  # after the alert: fades within minutes
        (-1, 0.3639),
        (0, 0.4000),  # at the alert's start: only the detection floor
        (2, 0.7410),
        (5, 0.8396),  # a few minutes before: the likeliest moment
        (10, 0.7808),
        (30, 0.5157),
        (60, 0.3315),
        (120, 0.2254),
        (600, 0.1086),  # ten hours before: the long tail keeps it visible
    ],
)
def test_the_time_score_of_a_change_minutes_before_the_alert(minutes_before: float, expected: float):
    assert time_score(minutes_before) == pytest.approx(expected, abs=5e-5)


@pytest.mark.parametrize(
    ("likelier", "less_likely"),
    [
        (5, 0),  # detection ramp: an alert needs its condition to hold, so seconds before is less likely
        (5, 30),  # decay
        (30, 120),
        (120, 600),
        (0, -1),  # just after the alert (clock skew) is below the same moment before it
        (-1, -10),  # and fades with each minute after
    ],
)
def test_time_orders_changes(likelier: float, less_likely: float):
    assert time_score(likelier) > time_score(less_likely)


@pytest.mark.parametrize("minutes", [0, 1, 5, 30, 120, 600, 5000])
def test_the_envelope_bounds_the_time_score_and_never_rises(minutes: float):
    assert envelope(minutes) >= time_score(minutes)
    assert envelope(minutes) >= envelope(minutes + 1)


# --- graph: hop discount by direction, softened edge confidence --------------------------------------------------


def _relation(direction: str, hops: int, confidence: float | None = None) -> Relation:
    path = list(range(1, hops + 2))
    steps = [
        (Edge(a, b, confidence, ("kubernetes",), ()), True)
        for a, b in zip(path, path[1:], strict=False)
        if confidence is not None
    ]
    return Relation(service_id=path[-1], hops=hops, direction=direction, path=path, steps=steps)


@pytest.mark.parametrize(
    ("direction", "hops", "weight"),
    [
        (SELF, 0, 1.0),
        (DOWN, 1, 0.85),
        (DOWN, 2, 0.65),
        (DOWN, 3, 0.5),
        (DOWN, 5, 0.5),  # past the deepest walk: the last weight
        (UP, 1, 0.5),
        (UP, 3, 0.25),
        (MIXED, 1, 0.3),
        (MIXED, 3, 0.12),
        (NONE, 1, 0.15),  # no known edge, same team or namespace: a low prior
    ],
)
def test_the_graph_weight_of_a_relation_by_direction_and_hops(direction: str, hops: int, weight: float):
    assert _relation(direction, hops).weight == pytest.approx(weight)


@pytest.mark.parametrize(
    ("confidence", "weight"),
    [
        (1.0, 0.85),
        (0.5, 0.85 * 0.7),  # softened: 0.4 + 0.6 × confidence
        (0.0, 0.85 * 0.4),  # a zero-confidence edge still says more than no edge
    ],
)
def test_edge_confidence_softens_the_weight(confidence: float, weight: float):
    assert _relation(DOWN, 1, confidence).weight == pytest.approx(weight)


def test_confidence_multiplies_along_the_path():
    assert _relation(DOWN, 2, 0.5).confidence == pytest.approx(0.25)
    assert _relation(DOWN, 2, 0.5).weight == pytest.approx(0.65 * (0.4 + 0.6 * 0.25))


# --- risk: kind weights and magnitude ------------------------------------------------------------------------------


def _risk(kind: str, *, status: str = "", summary: str = "", diff=(), details=None, release_key="", facts=None):
    return risk(kind, status, summary, list(diff), details or {}, release_key, 1, facts or Facts())


IMAGE = {"path": "spec.template.spec.containers[api].image", "before": "api:1", "after": "api:2"}


def _replicas(before: int, after: int) -> dict[str, object]:
    return {"path": "spec.replicas", "before": before, "after": after}


@pytest.mark.parametrize(
    ("kind", "value"),
    [
        ("config", 0.7),
        ("feature_flag", 0.7),
        ("deploy", 0.6),
        ("rollback", 0.5),
        ("custom", 0.4),
        ("something-new", 0.4),  # an unknown kind: the default
        ("scale", 0.3),
        ("ci", 0.15),
        ("commit", 0.12),
        ("autoscale", 0.1),
    ],
)
def test_the_base_risk_of_each_kind(kind: str, value: float):
    assert _risk(kind).value == pytest.approx(value)


@pytest.mark.parametrize(
    ("case", "kwargs", "value", "note"),
    [
        ("image change", {"kind": "deploy", "diff": [IMAGE]}, 0.7, "image changed"),
        ("failed rollout: said, and weighed apart", {"kind": "deploy", "status": "failed"}, 0.6, "rollout failed"),
        ("deep replica cut", {"kind": "scale", "diff": [_replicas(10, 2)]}, 0.86, "replicas 10 → 2 (80% cut)"),
        ("shallow replica cut", {"kind": "scale", "diff": [_replicas(10, 8)]}, 0.44, "replicas 10 → 8"),
        ("scale up", {"kind": "scale", "diff": [_replicas(2, 10)]}, 0.3, "replicas 2 → 10"),
        ("autoscaler halves", {"kind": "autoscale", "diff": [_replicas(10, 5)]}, 0.175, "autoscaler step"),
        ("failed CI", {"kind": "ci", "status": "failed"}, 0.08, "CI job failed: nothing was deployed"),
        ("CI that deploys", {"kind": "ci", "summary": "Deploy api"}, 0.4, "CI job that deploys"),
        ("commit not deployed", {"kind": "commit", "release_key": "abc1234"}, 0.12, "commit not deployed yet"),
        (
            "commit deployed",
            {"kind": "commit", "release_key": "abc1234", "facts": Facts(deployed_releases={"abc1234"})},
            0.2,
            "its release was deployed (see the deploy)",
        ),
    ],
)
def test_magnitude_moves_the_risk(case: str, kwargs: dict, value: float, note: str):
    got = _risk(**kwargs)
    assert got.value == pytest.approx(value), case
    assert note in got.notes, case


@pytest.mark.parametrize(
    ("kind", "status", "details", "failed"),
    [
        ("deploy", "failed", {}, True),
        ("deploy", "succeeded", {"rollout": {"status": "failed"}}, True),
        ("rollback", "ProgressDeadlineExceeded", {}, True),
        ("config", "error", {}, True),
        ("deploy", "succeeded", {"rollout": {"status": "complete"}}, False),
        ("ci", "failed", {}, False),  # a failed CI job deployed nothing: no failed rollout
        ("commit", "failed", {}, False),
    ],
)
def test_a_failed_rollout_is_its_own_feature_not_added_to_the_magnitude(
    kind: str, status: str, details: dict, failed: bool
):
    got = _risk(kind, status=status, details=details)
    assert got.failed is failed
    assert ("rollout failed" in got.notes) is failed
    assert got.value == pytest.approx(_risk(kind, details=details).value if kind != "ci" else 0.08)


@pytest.mark.parametrize(
    ("minutes_after", "health"),
    [
        (0.5, 1.0),
        (5, 1.0),  # within HEALTH_FULL_MINUTES: counts fully
        (10, 1.0),
        (20, 0.5),  # halfway to HEALTH_NONE_MINUTES: half
        (30, 0.0),  # at HEALTH_NONE_MINUTES: nothing
    ],
)
def test_a_health_episode_right_after_a_deploy_is_evidence_fading_with_delay(minutes_after: float, health: float):
    facts = Facts(health_after={1: ("CrashLoopBackOff", minutes_after)})
    got = _risk("deploy", facts=facts)
    assert got.health == pytest.approx(health)
    assert got.value == pytest.approx(0.6)  # the magnitude is what changed, not what followed
    assert any(n.startswith("CrashLoopBackOff started on the changed service") for n in got.notes)


# --- feedback and the combined score ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("verdicts", "similar", "value"),
    [
        ({1: "caused"}, {}, 1.0),
        ({1: "unrelated"}, {}, -1.0),
        ({}, {}, 0.0),
        ({}, {(7, "deploy"): (1, 0)}, 0.3),
        ({}, {(7, "deploy"): (5, 0)}, 0.6),  # capped
        ({}, {(7, "deploy"): (1, 1)}, 0.1),
        ({}, {(7, "deploy"): (0, 5)}, -0.6),  # capped
        ({}, {(7, "config"): (3, 0)}, 0.0),  # another kind teaches nothing about this one
    ],
)
def test_the_feedback_score(verdicts: dict, similar: dict, value: float):
    got, _note = feedback_score(1, 7, "deploy", Facts(verdicts=verdicts, similar=similar))
    assert got == pytest.approx(value)


@pytest.mark.parametrize(
    ("probability", "feedback", "score"),
    [
        (0.42, 0.0, 0.42),
        (0.42, 0.3, 0.42),  # similar alerts weigh inside the model, not here
        (0.42, -1.0, 0.0004),  # marked unrelated to this alert: a thousandth (below a change hours before)
        (0.0001, 1.0, 1.0),  # a confirmed cause outranks everything
        (1.2, 0.0, 1.0),  # never above 1
        (-0.5, 0.0, 0.0),  # never below 0
        (0.123456, 0.0, 0.1235),
    ],
)
def test_the_final_score_applies_the_verdict_on_this_alert(probability: float, feedback: float, score: float):
    assert final_score(probability, feedback) == pytest.approx(score, abs=1e-6)


def test_a_recent_direct_deploy_outranks_an_old_far_one_and_a_commit_at_the_same_moment():
    def score(minutes: float, direction: str, hops: int, kind: str) -> float:
        rel = _relation(direction, hops)
        c = Candidate(time_score(minutes), rel.weight, _risk(kind).value, kind=kind, direction=direction)
        return shipped().probability(c)

    recent_direct = score(5, DOWN, 1, "deploy")
    assert recent_direct > score(120, DOWN, 1, "deploy")
    assert recent_direct > score(5, MIXED, 3, "deploy")
    assert recent_direct > score(5, DOWN, 1, "commit")
    assert score(5, DOWN, 1, "deploy") > score(5, UP, 1, "deploy")


# --- reasons -------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "minutes", "moment", "text"),
    [
        ("deploy", 7, reasons.ALERT, "Deployed 7 min before the alert"),
        ("config", 150, reasons.ALERT, "Configuration changed 2.5 h before the alert"),
        ("deploy", -2, reasons.ALERT, "Deployed 2 min after the alert started (within the clock-skew allowance)"),
        ("scale", 0.5, "12:00", "Scaled less than a minute before 12:00"),
        ("feature_flag", 120, None, "Feature flag changed 2 h ago"),
        ("mystery", 3, None, "Changed 3 min ago"),
        ("deploy", -3, None, "Deployed 3 min from now"),
    ],
)
def test_the_time_reason(kind: str, minutes: float, moment: str | None, text: str):
    assert reasons.timing(kind, minutes, moment) == text


@pytest.mark.parametrize(
    ("minutes", "text"), [(0.2, "less than a minute"), (89, "89 min"), (90, "1.5 h"), (-45, "45 min")]
)
def test_minutes_read_as_people_say_them(minutes: float, text: str):
    assert fmt_minutes(minutes) == text


def test_the_relation_reason_names_each_edge_and_the_direction():
    rel = _relation(UP, 2, 0.9)
    names = {1: "api", 2: "gateway", 3: "web"}
    assert reasons.relation(rel, names) == [
        "api depends on gateway (kubernetes)",
        "gateway depends on web (kubernetes)",
        "web calls api indirectly: a change there can overload it",
    ]
    assert reasons.relation(_relation(SELF, 0), names) == ["Change on the alerting service itself"]
    unlinked = Relation(service_id=3, hops=1, direction=NONE, path=[1, 3], basis="same team (payments)")
    assert reasons.relation(unlinked, names) == ["No known dependency: same team (payments)"]
