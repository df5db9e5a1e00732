"""The ranker and path evidence as tables: pure functions, no database (pytest-django refuses any query here)."""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime, timedelta

import pytest

from changetrack.correlation import evidence, reasons
from changetrack.correlation.candidates import _decay
from changetrack.correlation.model import Candidate, Model, fit, odds, shipped, sigmoid
from changetrack.correlation.scoring import NEVER_FAIL, RISK_CAP, early, fresh, time_score

T0 = datetime(2026, 11, 21, 10, 0, tzinfo=UTC)
NAMES = {1: "api-gateway", 2: "checkout", 3: "payments", 4: "ledger"}


def minutes(n: float) -> timedelta:
    return timedelta(minutes=n)


def product_model() -> Model:
    """The old score, read as odds: time^0.7 × graph × risk."""
    return Model(0.0, {"time": 0.7, "graph": 1.0, "risk": 1.0, "path": 0.0, "similar": 0.0})


# --- the model --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("time", "graph", "risk"),
    [(1.0, 1.0, 1.0), (0.84, 0.85, 0.9), (0.11, 0.3, 0.12), (0.5, 0.65, 0.6)],
)
def test_with_product_weights_the_probability_is_the_old_score_read_as_odds(time, graph, risk):
    product = time**0.7 * graph * risk
    assert product_model().probability(Candidate(time, graph, risk)) == pytest.approx(product / (1 + product))


@pytest.mark.parametrize(
    ("z", "p"),
    [(0.0, 0.5), (math.log(3), 0.75), (-math.log(3), 0.25), (800.0, 1.0), (-800.0, 0.0)],
)
def test_sigmoid_is_the_inverse_of_the_log_odds_and_never_overflows(z, p):
    assert sigmoid(z) == pytest.approx(p)
    if 0 < p < 1:
        assert math.log(odds(p)) == pytest.approx(z)


@pytest.mark.parametrize(
    ("better", "worse"),
    [
        (Candidate(0.8, 1.0, 0.6), Candidate(0.3, 1.0, 0.6)),  # more recent
        (Candidate(0.8, 0.85, 0.6), Candidate(0.8, 0.5, 0.6)),  # closer
        (Candidate(0.8, 0.85, 0.9), Candidate(0.8, 0.85, 0.6)),  # riskier
        (Candidate(0.8, 0.5, 0.6, path=1.0), Candidate(0.8, 0.5, 0.6, path=-0.5)),  # a path that lit up
        (Candidate(0.8, 0.5, 0.6, similar=0.6), Candidate(0.8, 0.5, 0.6, similar=-0.4)),  # past verdicts
    ],
)
def test_the_shipped_model_orders_candidates_by_each_component(better, worse):
    m = shipped()
    assert m.probability(better) > m.probability(worse)


def test_the_shipped_model_keeps_time_graph_and_risk_weights_positive_and_has_a_threshold():
    m = shipped()
    assert min(m.weights["time"], m.weights["graph"], m.weights["risk"]) > 0
    assert 0 < m.threshold < 1


@pytest.mark.parametrize(("minutes_before", "value"), [(-1, 0.0), (0, 1.0), (15, math.exp(-1)), (60, math.exp(-4))])
def test_fresh_is_the_first_hour_alone(minutes_before, value):
    assert fresh(minutes_before) == pytest.approx(value)


@pytest.mark.parametrize(
    ("minutes_before", "value"), [(-2, 1.0), (0, 1.0), (1, math.exp(-1 / 3)), (3, math.exp(-1)), (9, math.exp(-3))]
)
def test_early_is_one_at_the_alert_and_fades_within_minutes(minutes_before, value):
    assert early(minutes_before) == pytest.approx(value)


def test_a_change_in_the_alerts_last_minute_is_less_likely_than_one_minutes_before_when_early_weighs():
    m = Model(0.0, {"time": 1.0, "graph": 1.0, "risk": 1.0, "early": -2.0})
    last_minute = Candidate(time_score(1), 1.0, 0.6, early=early(1))
    eight_before = Candidate(time_score(8), 1.0, 0.6, early=early(8))
    assert m.probability(eight_before) > m.probability(last_minute)


def test_fitting_keeps_the_early_weight_at_or_below_zero_so_the_bounds_hold():
    samples = [(Candidate(0.8, 1.0, 0.6, early=e), int(e > 0.5)) for e in (0.1, 0.2, 0.7, 0.9) for _ in range(30)]
    learned = fit(samples, product_model(), strength=0.01)
    assert learned.weights["early"] == 0.0
    against = [(Candidate(0.8, 1.0, 0.6, early=e), int(e < 0.5)) for e in (0.1, 0.2, 0.7, 0.9) for _ in range(30)]
    assert fit(against, product_model(), strength=0.01).weights["early"] < -0.5


@pytest.mark.parametrize("feature", ["path", "failed", "health"])
def test_fitting_never_makes_evidence_after_a_change_count_against_it(feature: str):
    """Path, failed rollout and health are kept at or above zero: data where they go with unrelated changes (a
    collinear feature took their share) must not turn a lit path or a crash loop into a reason to look away."""
    against = [
        (Candidate(0.8, 1.0, 0.6, **{feature: v}), int(v < 0.5)) for v in (0.0, 0.1, 0.9, 1.0) for _ in range(30)
    ]
    assert fit(against, product_model(), strength=0.01).weights[feature] == 0.0
    towards = [
        (Candidate(0.8, 1.0, 0.6, **{feature: v}), int(v > 0.5)) for v in (0.0, 0.1, 0.9, 1.0) for _ in range(30)
    ]
    assert fit(towards, product_model(), strength=0.01).weights[feature] > 0.5


def test_the_bound_the_candidate_query_uses_is_never_below_a_candidates_odds():
    m = shipped()
    rng = random.Random(7)
    for _ in range(2000):
        kind = rng.choice(sorted(RISK_CAP))
        direction = rng.choice(["self", "down", "up", "mixed"])
        minutes_before = rng.uniform(-5, 1440)
        graph = rng.uniform(0.05, 1.0)
        c = Candidate(
            time=time_score(minutes_before),
            graph=graph,
            risk=rng.uniform(0.01, RISK_CAP[kind]),
            fresh=fresh(minutes_before),
            path=rng.uniform(-1, 1),
            kind=kind,
            direction=direction,
            early=early(minutes_before),
            failed=float(kind not in NEVER_FAIL and rng.random() < 0.3),
            health=rng.choice([0.0, rng.random()]),
        )
        room = m.headroom(False, health=c.health > 0, path=c.path != 0)
        bound = m.service_term(graph, direction, room) * m.kind_term(kind, RISK_CAP[kind], kind not in NEVER_FAIL)
        bound *= _decay(max(minutes_before, 0), m.weights["time"], m.fresh)
        assert m.probability(c) <= bound / (1 + bound) * (1 + 1e-9) + 1e-15


def test_contributions_name_the_largest_term_first_measured_from_a_typical_candidate():
    m = Model(
        0.0,
        {"time": 1.0, "graph": 1.0, "risk": 1.0, "path": 2.0, "similar": 0.0},
        reference={"time": 0.5, "graph": 0.5, "risk": 0.5, "path": 0.0},
    )
    terms = m.contributions(Candidate(0.5, 0.5, 0.5, path=1.0))
    assert terms[0] == ("path", pytest.approx(2.0))
    assert dict(terms)["time"] == pytest.approx(0.0)
    assert reasons.contributions(terms) == ["Weighed most: alerts on the path (+2.0)"]
    assert reasons.contributions([("time", 0.2), ("risk", -0.1)]) == []  # nothing stands out: no line


def test_fitting_learns_which_kinds_cause_incidents_here_and_stays_near_the_prior_with_little_data():
    prior = product_model()
    rng = random.Random(3)
    samples = []
    for _ in range(400):  # same components; feature flags are causes three times out of four, configs rarely
        samples.append((Candidate(0.6, 0.85, 0.6, kind="feature_flag"), int(rng.random() < 0.75)))
        samples.append((Candidate(0.6, 0.85, 0.6, kind="config"), int(rng.random() < 0.1)))
    learned = fit(samples, prior, strength=1.0)
    assert learned.kinds["feature_flag"] > 0.5 > -0.5 > learned.kinds["config"]
    flag, config = Candidate(0.6, 0.85, 0.6, kind="feature_flag"), Candidate(0.6, 0.85, 0.6, kind="config")
    assert learned.probability(flag) == pytest.approx(0.75, abs=0.05)  # calibrated on what it saw
    assert learned.probability(config) == pytest.approx(0.1, abs=0.05)
    few = fit(samples[:6], prior, strength=50.0)  # a handful of labels against a strong prior: barely moves
    assert abs(few.kinds["feature_flag"]) < 0.1


def test_fitting_keeps_the_bounding_weights_positive_even_when_data_says_otherwise():
    samples = [(Candidate(t, 1.0, 1.0), int(t < 0.5)) for t in (0.1, 0.2, 0.3, 0.7, 0.8, 0.9) for _ in range(30)]
    learned = fit(samples, product_model(), strength=0.01)
    assert learned.weights["time"] >= 0.05


def test_weights_read_from_a_file_are_clamped_and_unknown_names_dropped():
    m = Model.from_dict(
        {"bias": 1, "weights": {"time": -2, "graph": 1, "risk": 1}, "kinds": {"nope": 3, "deploy": 0.5}}
    )
    assert m.weights["time"] == 0.05 and m.kinds == {"deploy": 0.5} and m.weights["path"] == 0.0
    assert Model.from_dict(m.to_dict()) == m


# --- path evidence ----------------------------------------------------------------------------------------------


def ep(*items: tuple[int, float, str]) -> dict[int, list[tuple[datetime, str]]]:
    out: dict[int, list[tuple[datetime, str]]] = {}
    for sid, m, reason in sorted(items, key=lambda x: x[1]):
        out.setdefault(sid, []).append((T0 + minutes(m), reason))
    return out


# path: alerting service first, changed service last. The change at T0, the alert at T0 + 12 min.
@pytest.mark.parametrize(
    ("path", "episodes", "value", "sentence"),
    [
        ([1], ep(), 0.0, ""),  # the alerting service itself: no path
        ([1, 2], ep(), 0.0, ""),  # a quiet direct dependency is no evidence either way
        ([1, 2], ep((2, 3, "Alert “Errors”")), 0.0, ""),  # nothing between: its own alert is the health feature
        (
            [1, 2, 3],
            ep((3, 2, "Alert “Latency”"), (2, 3, "Alert “Errors”")),
            1.0,
            "payments alerted 2 min after this deploy, then checkout (3 min)",
        ),
        (  # the changed service itself stayed quiet (no episode, no alert): the one between still counts
            [1, 2, 3],
            ep((2, 3, "Alert “Errors”")),
            1.0,
            "checkout alerted 3 min after this deploy",
        ),
        (
            [1, 2, 3, 4],
            ep((4, 1, "CrashLoopBackOff"), (3, 3, "Alert “Latency”"), (2, 7, "Alert “Errors”")),
            1.0,
            "ledger had CrashLoopBackOff 1 min after this deploy, then payments (3 min), then checkout (7 min)",
        ),
        (  # two between, the nearer the change lit up, the next did not: half
            [1, 2, 3, 4],
            ep((3, 3, "Alert “Latency”")),
            0.5,
            "payments alerted 3 min after this deploy",
        ),
        (  # two between in the wrong order: only the first in order counts
            [1, 2, 3, 4],
            ep((3, 6, "Alert “Latency”"), (2, 3, "Alert “Errors”")),
            0.5,
            "payments alerted 6 min after this deploy",
        ),
        (  # the changed service alerted after the one between: not told first, the one between counts
            [1, 2, 3],
            ep((3, 6, "Alert “Latency”"), (2, 3, "Alert “Errors”")),
            1.0,
            "checkout alerted 3 min after this deploy",
        ),
        (  # before the change: not caused by it
            [1, 2, 3],
            ep((3, -20, "Alert “Latency”"), (2, -10, "Alert “Errors”")),
            evidence.QUIET,
            "No alert or health episode on the path (checkout) between this change and the alert",
        ),
        (  # after the alert: not on the way to it
            [1, 2, 3],
            ep((2, 15, "Alert “Latency”")),
            evidence.QUIET,
            "No alert or health episode on the path (checkout) between this change and the alert",
        ),
    ],
)
def test_path_evidence(path, episodes, value, sentence):
    got = evidence.path_evidence(path, T0, T0 + minutes(12), episodes, NAMES, "deploy")
    assert got == (pytest.approx(value), sentence)


def test_a_lit_path_raises_a_far_change_above_the_same_change_on_a_quiet_path():
    m = shipped()
    lit, _ = evidence.path_evidence([1, 2, 3], T0, T0 + minutes(12), ep((3, 2, "A"), (2, 4, "B")), NAMES, "deploy")
    quiet, _ = evidence.path_evidence([1, 2, 3], T0, T0 + minutes(12), ep(), NAMES, "deploy")
    base = dict(time=time_score(12), graph=0.65, risk=0.7, kind="deploy", direction="down")
    assert m.probability(Candidate(path=lit, **base)) > m.probability(Candidate(path=quiet, **base))


@pytest.mark.parametrize(
    ("name", "local"),
    [("time", False), ("graph", False), ("risk", False), ("fresh", False), ("path", False)]
    + [("similar", True), ("early", True)],
)
def test_verdicts_move_past_verdicts_and_how_soon_alerts_fire_freely_and_the_shape_little(name, local):
    from changetrack.correlation.model import FEATURES, strengths

    precision = strengths(shape=100.0, local=0.2)
    assert precision[1 + FEATURES.index(name)] == (0.2 if local else 100.0)


def test_a_refit_never_turns_past_verdicts_against_the_same_kind_of_change():
    # past verdicts that did not predict here: the fit would like a negative weight, the range keeps it at zero
    samples = [(Candidate(0.8, 1.0, 0.6, similar=s), int(s < 0)) for s in (-0.4, -0.2, 0.3, 0.6) for _ in range(30)]
    learned = fit(samples, product_model(), strength=0.01)
    assert learned.weights["similar"] == 0.0
    assert Model.from_dict({"weights": {"similar": -2}}).weights["similar"] == 0.0
