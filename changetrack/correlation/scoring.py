"""The score of one candidate change for one alert, as readable components, each in [0, 1].

- ``time``: recency. A two-speed decay: most weight fades within the first hour (τ = 30 min: bad changes
  usually bite within minutes), a long tail keeps a deploy 10 h before visible (≈ 0.11), not zero. Times a
  detection ramp: an alert fires only after its condition held for a while (evaluation windows, ``for:``
  clauses, error budgets burning), so a change seconds before the alert is less likely its cause than one a
  few minutes before. A change stamped after the alert is possible (clock skew) but fades within minutes:
  most changes made right after an alert are responses to it.
- ``graph``: the relation's weight (direction, hops, edge confidence; see ``graph.WEIGHTS``).
- ``risk``: what the change can do, by kind and magnitude (image change, version distance, replica cut ratio,
  config keys touched; commits not deployed, CI that deployed nothing, autoscaler steps are low).
- ``failed`` and ``health``: what the change left behind, kept apart from the magnitude for the ranker: its
  rollout failed; a health episode or alert started on the changed service right after it (fading with the delay).
- ``feedback``: in [-1, 1]; a verdict on this very alert decides, verdicts on similar alerts nudge.

The components, with path evidence (``evidence``), go through the ranker (``model``: a logistic regression whose
output reads as a probability); ``final_score`` then applies a verdict on this very alert.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Container
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from changetrack.correlation import magnitude

TAU_FAST = 30.0
TAU_SLOW = 720.0
AFTER_ALERT_TIME = 0.6  # a change stamped just after the alert (clock skew): possible, but less likely
AFTER_ALERT_TAU = 2.0  # ...and less so each minute later: those are mostly responses to the alert
DETECT_FLOOR = 0.4  # the time score a change at the very moment of the alert keeps...
DETECT_TAU = 2.0  # ...rising to the full decay within a few minutes (alerts need their condition to hold)
HEALTH_FULL_MINUTES = 10.0  # a health episode this soon after a change counts fully against it...
HEALTH_NONE_MINUTES = 30.0  # ...fading to nothing at this delay (by then it more likely has another cause)

#: base risk by kind
RISK_BASE: dict[str, float] = {
    "deploy": 0.6,
    "rollback": 0.5,
    "config": 0.7,  # as risky as a deploy: applied everywhere at once, without a rolling update or canary
    "secret": 0.6,
    "feature_flag": 0.7,
    "scale": 0.3,
    "autoscale": 0.1,
    "ci": 0.15,
    "commit": 0.12,
    "infra": 0.6,
    "db_migration": 0.7,
    "custom": 0.4,
}
RISK_DEFAULT = 0.4
#: the highest risk a kind can reach with every magnitude bonus (used to pre-rank in SQL)
RISK_CAP: dict[str, float] = {
    "deploy": 1.0,
    "rollback": 1.0,
    "config": 1.0,
    "secret": 1.0,
    "feature_flag": 1.0,
    "scale": 1.0,
    "autoscale": 0.5,
    "ci": 0.6,
    "commit": 0.45,
    "infra": 1.0,
    "db_migration": 1.0,
    "custom": 1.0,
}
RISK_CAP_DEFAULT = 1.0
FAILED = {"failed", "failure", "error", "errored", "degraded", "progressdeadlineexceeded", "timeout", "timed_out"}


@dataclass
class Facts:
    """What the scorer knows beyond the change row, gathered in bulk by the engine."""

    #: change id → (reason, minutes after the change) of the first health episode on its service right after it
    health_after: dict[int, tuple[str, float]] = field(default_factory=dict)
    #: release keys that reached a deploy (any service, any time in the window); may be a ``Lazy`` set
    deployed_releases: Container[str] = field(default_factory=set)
    #: change id → verdict on this very alert
    verdicts: dict[int, str] = field(default_factory=dict)
    #: (service id, kind) → (caused count, unrelated count) on similar alerts
    similar: dict[tuple[int, str], tuple[int, int]] = field(default_factory=dict)


class Lazy:
    """A set computed on first membership test: most rankings never score a commit or CI run (they cannot
    reach the top), so the query behind it is usually skipped."""

    def __init__(self, compute: Callable[[], set[str]]):
        self._compute = compute
        self._value: set[str] | None = None

    def __contains__(self, key: object) -> bool:
        if self._value is None:
            self._value = self._compute()
        return key in self._value


@dataclass
class Risk:
    """What the change can do (``value``: kind and magnitude), and the evidence the change itself left, kept apart
    for the ranker: ``failed`` (its rollout failed) and ``health`` (in [0, 1]: an episode or alert on the changed
    service right after it, fading with the delay). A single capped number hid them behind the magnitude: a
    failed rollout followed by a crash loop read like a major version jump."""

    value: float
    notes: list[str] = field(default_factory=list)
    failed: bool = False
    health: float = 0.0


def envelope(minutes_before: float) -> float:
    """The two-speed decay alone: an upper bound of ``time_score`` that only decreases (used for bounds)."""
    m = max(minutes_before, 0.0)
    return 0.75 * math.exp(-m / TAU_FAST) + 0.25 * math.exp(-m / TAU_SLOW)


FRESH_TAU = 15.0


def fresh(minutes_before: float) -> float:
    """The first hour alone, for the ranker (``model``): e^(−minutes/15) before the alert, 0 after it (a change
    stamped after the alert is a response more often than a cause); at most 1, never rising with age."""
    return math.exp(-minutes_before / FRESH_TAU) if minutes_before >= 0 else 0.0


EARLY_TAU = 3.0


def early(minutes_before: float) -> float:
    """How close to the alert a change came, for the ranker (``model``): e^(−minutes/3) before the alert, 1 at
    or after it. Its weight is fitted at or below zero: an alert fires only after its condition held for a while,
    so a change in the last minute or two is less likely its cause than one five or ten minutes before, and how
    much less is what the labelled incidents (and an installation's verdicts) say, apart from the time decay."""
    return math.exp(-minutes_before / EARLY_TAU) if minutes_before > 0 else 1.0


def time_score(minutes_before: float) -> float:
    if minutes_before < 0:
        return AFTER_ALERT_TIME * math.exp(minutes_before / AFTER_ALERT_TAU)
    ramp = 1 - (1 - DETECT_FLOOR) * math.exp(-minutes_before / DETECT_TAU)
    return envelope(minutes_before) * ramp


def replica_change(diff: Any, details: Any = None) -> tuple[float, float] | None:
    """(before, after) of the first replica count in ``diff`` or ``details``, if any."""
    return magnitude.replica_change(diff, details)


def rollout_failed(status: str, details: Any) -> bool:
    if status.lower() in FAILED:
        return True
    rollout = details.get("rollout") if isinstance(details, dict) else None
    if isinstance(rollout, dict):
        return str(rollout.get("status", "")).lower().replace(" ", "") in FAILED
    return False


def _says_deploy(summary: str, details: Any) -> bool:
    if isinstance(details, dict) and (
        details.get("deployed") or details.get("environment") or details.get("deployment")
    ):
        return True
    return "deploy" in summary.lower()


def risk(
    kind: str, status: str, summary: str, diff: Any, details: Any, release_key: str, change_id: int, facts: Facts
) -> Risk:
    """Risk of one change with the notes that explain it (the notes become reasons)."""
    value = RISK_BASE.get(kind, RISK_DEFAULT)
    notes: list[str] = []
    size = magnitude.read(kind, diff, details)
    reps = size.replicas
    if kind == "commit":
        if release_key and release_key in facts.deployed_releases:
            value, notes = 0.2, [*notes, "its release was deployed (see the deploy)"]
        else:
            notes.append("commit not deployed yet")
    elif kind == "ci":
        if status.lower() in FAILED:
            value = 0.08
            notes.append("CI job failed: nothing was deployed")
        elif _says_deploy(summary, details) and not (release_key and release_key in facts.deployed_releases):
            value = 0.4
            notes.append("CI job that deploys")
        else:
            notes.append("CI job that deployed nothing itself")
    elif kind == "autoscale":
        if reps and reps[0] > 0 and reps[1] < reps[0]:
            value += 0.15 * (1 - reps[1] / reps[0])
        notes.append("autoscaler step")
    else:
        value = size.base if size.base is not None else value
        value += size.bonus
        notes.extend(size.notes)
    failed = kind not in NEVER_FAIL and rollout_failed(status, details)
    if failed:
        notes.append("rollout failed")
    health = 0.0
    if change_id in facts.health_after:
        reason, minutes = facts.health_after[change_id]
        health = health_fade(minutes)
        notes.append(f"{reason} started on the changed service {_fmt_minutes(minutes)} after it")
    return Risk(min(value, RISK_CAP.get(kind, RISK_CAP_DEFAULT), 1.0), notes, failed, health)


#: kinds whose failure means nothing reached production (a failed CI job deployed nothing)
NEVER_FAIL = frozenset({"commit", "ci"})


def health_fade(minutes: float) -> float:
    """How much an episode ``minutes`` after a change says against it: fully within ``HEALTH_FULL_MINUTES``,
    nothing from ``HEALTH_NONE_MINUTES`` (by then it more likely has another cause)."""
    return min(1.0, max(0.0, (HEALTH_NONE_MINUTES - minutes) / (HEALTH_NONE_MINUTES - HEALTH_FULL_MINUTES)))


def feedback_score(change_id: int, service_id: int, kind: str, facts: Facts) -> tuple[float, str]:
    """In [-1, 1] with a note: the verdict on this alert, else what similar alerts taught."""
    verdict = facts.verdicts.get(change_id)
    if verdict == "caused":
        return 1.0, "confirmed as the cause of this alert"
    if verdict == "unrelated":
        return -1.0, "marked unrelated to this alert"
    caused, unrelated = facts.similar.get((service_id, kind), (0, 0))
    if not caused and not unrelated:
        return 0.0, ""
    value = max(-0.6, min(0.6, 0.3 * caused - 0.2 * unrelated))
    parts = []
    if caused:
        parts.append(f"{kind} changes on this service caused {caused} similar alert{'s' if caused > 1 else ''}")
    if unrelated:
        parts.append(f"{unrelated} marked unrelated to similar alerts")
    return value, "; ".join(parts)


UNRELATED_FACTOR = 0.001  # a change marked unrelated to this very alert keeps a thousandth of its probability


def final_score(probability: float, feedback: float) -> float:
    """The model's probability with the verdict on this very alert applied: a confirmed cause scores 1 (nothing
    outranks it), a change marked unrelated drops to ``UNRELATED_FACTOR`` of it; in [0, 1], 4 decimals."""
    if feedback >= 1:
        return 1.0
    if feedback <= -1:
        probability *= UNRELATED_FACTOR
    return round(min(1.0, max(0.0, probability)), 4)


def minutes_between(earlier: datetime, later: datetime) -> float:
    return (later - earlier).total_seconds() / 60


def _fmt_minutes(minutes: float) -> str:
    minutes = abs(minutes)
    if minutes < 1:
        return "less than a minute"
    if minutes < 90:
        return f"{int(round(minutes))} min"
    hours = minutes / 60
    return f"{hours:.1f} h".replace(".0 h", " h")


fmt_minutes = _fmt_minutes
