"""Verdicts teach the ranker: past the floor, the installation's model is refitted from them; undone, it is not."""

from __future__ import annotations

import pytest

from changetrack.correlation import engine, feedback, model, tuning
from changetrack.models import Feedback

from .helpers import NOW, alert, change, minutes

pytestmark = pytest.mark.django_db


def _incident(name: str, at_minutes: float):
    """On ``name``: a feature flag 5 min before an alert and a deploy 20 min before it."""
    at = NOW - minutes(at_minutes)
    deploy = change(name, "deploy", at - minutes(20))
    flag = change(name, "feature_flag", at - minutes(5), diff=({"path": "on", "before": False, "after": True},))
    return alert(name, at), deploy, flag


def _teach(n: int) -> None:
    """``n`` alerts on as many services where the responder says: the older deploy caused it, the flag did not."""
    for i in range(n):
        a, deploy, flag = _incident(f"svc-{i}", 600 - i)
        engine.rank_and_store(a.pk)  # the responder read the suspects...
        feedback.record(a, deploy.pk, "caused")  # ...and judged them
        feedback.record(a, flag.pk, "unrelated")


def test_below_the_floor_the_shipped_weights_rank():
    _teach((tuning.FLOOR - 1) // 2)
    assert tuning.current() == model.shipped()


def test_past_the_floor_verdicts_refit_the_model_and_move_the_ranking_of_new_alerts():
    fresh, deploy, flag = _incident("fresh", 0)
    before = [r.change.id for r in engine.rank(fresh)]
    assert before.index(flag.pk) < before.index(deploy.pk)  # the more recent flag first
    _teach(12)
    learned = tuning.current()
    assert learned.verdicts >= tuning.FLOOR
    assert learned.kinds["deploy"] - learned.kinds["feature_flag"] > (
        model.shipped().kinds["deploy"] - model.shipped().kinds["feature_flag"]
    )
    after = [r.change.id for r in engine.rank(fresh)]
    assert after[0] == deploy.pk  # what this installation's responders said, learned
    # a verdict undone (the row deleted) is no verdict: back below the floor, back to the shipped weights
    Feedback.objects.filter(verdict="unrelated").delete()
    Feedback.objects.filter(pk__in=list(Feedback.objects.values_list("pk", flat=True)[:4])).delete()
    assert tuning.current() == model.shipped()


def test_the_reasons_name_what_weighed_most():
    a, _, flag = _incident("api", 0)
    top = engine.rank(a)[0]
    assert top.change.id == flag.pk
    assert any(r.startswith("Weighed most: ") for r in top.reasons)
