"""Path evidence: alerts and health episodes on the services between a change and the alert (pure).

A change two or three hops away that really caused the alert usually shows on the way: the changed service
misbehaves first, then the service calling it, then the one alerting. For a candidate reached through ``path``
the walk goes from the changed service towards the alerting one (the alerting service left out). The changed
service's own episode is the ``health`` feature (``scoring``), so the value here counts the services *between*:
how many in a row, from the changed service's side, had an episode after the change and no later than the alert,
each no earlier than the one before it (the right order). The evidence is in [-1, 1]:

- the share of the services between that lit up in order (1: every one of them);
- a quiet path (services between, none lit) is evidence against the change (``QUIET``): the failure would have
  had to cross services that noticed nothing; a direct dependency has nothing between and is no evidence here.

The sentence names the changed service first when it lit up before the services between.
"""

from __future__ import annotations

import bisect
from datetime import datetime, timedelta

from changetrack.correlation.scoring import fmt_minutes

QUIET = -0.5
EARLY = timedelta(minutes=1)  # an episode this much before the change (clocks disagree) still counts after it
ORDER_SLACK = timedelta(minutes=1)  # ...and this much before the previous service's

Episodes = dict[int, list[tuple[datetime, str]]]


def _first(episodes: list[tuple[datetime, str]], lo: datetime, hi: datetime) -> tuple[datetime, str] | None:
    i = bisect.bisect_left(episodes, lo, key=lambda e: e[0])
    return episodes[i] if i < len(episodes) and episodes[i][0] <= hi else None


def path_evidence(
    path: list[int], changed_at: datetime, alert_at: datetime, episodes: Episodes, names: dict[int, str], kind: str
) -> tuple[float, str]:
    """(evidence in [-1, 1], the sentence that says it) for a candidate reached through ``path`` (service ids
    from the alerting service to the changed one); ``episodes``: service id → [(started, reason)] oldest first."""
    if len(path) < 3:
        return 0.0, ""
    changed, *between = reversed(path[1:])  # the changed service, then the ones between, towards the alert
    seen: list[tuple[int, datetime, str]] = []
    lo = changed_at - EARLY
    for sid in between:
        found = _first(episodes.get(sid, []), lo, alert_at)
        if found is None:
            break
        seen.append((sid, found[0], found[1]))
        lo = max(lo, found[0] - ORDER_SLACK)
    if not seen:
        quiet = ", ".join(names.get(s, str(s)) for s in between)
        return QUIET, f"No alert or health episode on the path ({quiet}) between this change and the alert"
    own = _first(episodes.get(changed, []), changed_at - EARLY, seen[0][1] + ORDER_SLACK)
    told = [(changed, *own), *seen] if own is not None else seen
    return len(seen) / len(between), _sentence(told, changed_at, names, kind)


def _what(reason: str) -> str:
    return "alerted" if reason.startswith("Alert") else f"had {reason}"


def _sentence(seen: list[tuple[int, datetime, str]], changed_at: datetime, names: dict[int, str], kind: str) -> str:
    noun = {"deploy": "deploy", "rollback": "rollback", "feature_flag": "flag change"}.get(kind, "change")
    sid, at, reason = seen[0]
    delay = max(0.0, (at - changed_at).total_seconds() / 60)
    out = f"{names.get(sid, str(sid))} {_what(reason)} {fmt_minutes(delay)} after this {noun}"
    for sid, at, _reason in seen[1:]:
        later = max(0.0, (at - changed_at).total_seconds() / 60)
        out += f", then {names.get(sid, str(sid))} ({fmt_minutes(later)})"
    return out
