"""Reasons: sentences built from the facts behind a score, each one a person can check on the timeline."""

from __future__ import annotations

from changetrack.correlation.graph import DOWN, MIXED, NONE, SELF, UP, Relation
from changetrack.correlation.scoring import fmt_minutes

VERBS = {
    "deploy": "Deployed",
    "rollback": "Rolled back",
    "config": "Configuration changed",
    "secret": "Secret changed",
    "feature_flag": "Feature flag changed",
    "scale": "Scaled",
    "autoscale": "Autoscaled",
    "ci": "CI job ran",
    "commit": "Committed",
    "infra": "Infrastructure changed",
    "db_migration": "Database migrated",
    "custom": "Changed",
}


#: what the time reasons measure from: an alert's start, or (ranking without an alert) a moment asked for
ALERT = "the alert"


def timing(kind: str, minutes_before: float, moment: str | None = ALERT) -> str:
    """ "Deployed 7 min before the alert"; with ``moment`` None (ranked at this minute), "Deployed 7 min ago"."""
    verb = VERBS.get(kind, "Changed")
    if moment is None:
        return f"{verb} {fmt_minutes(minutes_before)} " + ("from now" if minutes_before < 0 else "ago")
    if minutes_before < 0:
        since = "the alert started" if moment == ALERT else moment
        return f"{verb} {fmt_minutes(minutes_before)} after {since} (within the clock-skew allowance)"
    return f"{verb} {fmt_minutes(minutes_before)} before {moment}"


def _edge_text(caller: str, callee: str, evidence: tuple[str, ...], provenances: tuple[str, ...]) -> str:
    why = evidence[0] if evidence else (provenances[0] if provenances else "")
    return f"{caller} depends on {callee}" + (f" ({why})" if why else "")


def relation(rel: Relation, names: dict[int, str]) -> list[str]:
    """One sentence per edge walked, then what the direction means."""
    if rel.direction == SELF:
        return ["Change on the alerting service itself"]
    if rel.direction == NONE:
        return [f"No known dependency: {rel.basis}" if rel.basis else "No known dependency"]
    out = []
    for edge, _forward in rel.steps:
        out.append(
            _edge_text(
                names.get(edge.service_id, str(edge.service_id)),
                names.get(edge.depends_on_id, str(edge.depends_on_id)),
                edge.evidence,
                edge.provenances,
            )
        )
    alerting, changed = names.get(rel.path[0], "?"), names.get(rel.path[-1], "?")
    if rel.direction == DOWN and rel.hops > 1:
        out.append(f"{alerting} depends on {changed} through {rel.hops} hops")
    elif rel.direction == UP:
        out.append(
            f"{changed} calls {alerting}" + (" indirectly" if rel.hops > 1 else "") + ": a change there can overload it"
        )
    elif rel.direction == MIXED:
        out.append(f"{changed} is related to {alerting} through shared dependencies ({rel.hops} hops)")
    learned = [e for e, _ in rel.steps if "learned" in e.provenances and len(e.provenances) == 1]
    if learned:
        out.append("a learned dependency (from past alerts following changes)")
    return out


def build(
    kind: str,
    minutes_before: float,
    rel: Relation,
    names: dict[int, str],
    risk_notes: list[str],
    feedback_note: str,
    moment: str | None = ALERT,
) -> list[str]:
    out = [timing(kind, minutes_before, moment), *relation(rel, names), *risk_notes]
    if feedback_note:
        out.append(feedback_note[0].upper() + feedback_note[1:])
    return out


#: how the model's terms read in a reason
TERMS = {
    "time": "timing",
    "fresh": "minutes before the alert",
    "graph": "dependency",
    "risk": "what changed",
    "path": "alerts on the path",
    "similar": "past verdicts",
    "early": "right before the alert",
    "kind": "kind of change",
    "direction": "direction of the dependency",
}
CONTRIBUTION_SHOWN = 0.5  # a term moving the log-odds less than this from a typical candidate is not worth a line


def contributions(terms: list[tuple[str, float]], shown: int = 2) -> list[str]:
    """ "Weighed most: timing (+1.4), what changed (+0.7)" from the model's largest contributions (log-odds
    against a typical candidate), or nothing when none stands out."""
    big = [(name, value) for name, value in terms if abs(value) >= CONTRIBUTION_SHOWN][:shown]
    if not big:
        return []
    return ["Weighed most: " + ", ".join(f"{TERMS.get(name, name)} ({value:+.1f})" for name, value in big)]
