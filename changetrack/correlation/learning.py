"""Learned dependencies: alerts on A that repeatedly follow changes on B become an edge A → B.

Co-occurrence is counted in SQL over the last ``days``: for each alert on A, the distinct services B ≠ A
with a change (not an autoscaler step, commit or CI run: those say nothing about causation) in the
``window_minutes`` before it. A pair is kept when it repeats (``min_count``) and clearly beats chance
(``lift`` × what B's change rate alone would give). Pairs already linked by a declared or Kubernetes edge in
either direction are skipped: the graph knows them. Learned edges that no longer qualify are removed.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from changetrack.models import ChangeKind, Dependency, Service

logger = logging.getLogger(__name__)

IGNORED_KINDS = ("autoscale", "commit", "ci")

PAIRS_SQL = """
SELECT a.service_id, c.service_id, count(DISTINCT a.id)
FROM changetrack_alert a
JOIN changetrack_change c
  ON c.occurred_at >= a.started_at - make_interval(mins => %(window)s) AND c.occurred_at <= a.started_at
 AND c.occurred_at >= %(since)s AND c.service_id IS NOT NULL AND c.service_id <> a.service_id
 AND c.kind = ANY(%(kinds)s)
WHERE a.started_at >= %(since)s AND a.started_at <= %(until)s AND a.service_id IS NOT NULL
GROUP BY 1, 2
HAVING count(DISTINCT a.id) >= %(min_count)s
"""

RATES_SQL = """
SELECT service_id, count(*) FROM changetrack_change
WHERE service_id = ANY(%(ids)s) AND occurred_at >= %(since)s AND occurred_at <= %(until)s
  AND kind = ANY(%(kinds)s)
GROUP BY 1
"""

ALERTS_SQL = """
SELECT service_id, count(*) FROM changetrack_alert
WHERE service_id = ANY(%(ids)s) AND started_at >= %(since)s AND started_at <= %(until)s GROUP BY 1
"""


@dataclass(frozen=True)
class LearnedEdge:
    service_id: int
    depends_on_id: int
    count: int
    expected: float
    confidence: float
    evidence: str


def confidence(count: int, expected: float) -> float:
    """Grows with the excess over chance; capped below declared edges (1.0) and Kubernetes ones (0.9)."""
    return round(min(0.8, max(0.05, 1 - math.exp(-max(count - expected, 0.0) / 4))), 3)


def find_pairs(since: datetime, until: datetime, window_minutes: int, min_count: int, lift: float) -> list[LearnedEdge]:
    # kind = ANY(kinds), not NOT IN: lets PostgreSQL walk the (kind, occurred_at) index per alert
    kinds = [k for k in ChangeKind.values if k not in IGNORED_KINDS]
    params: dict[str, Any] = {
        "since": since,
        "until": until,
        "window": window_minutes,
        "min_count": min_count,
        "kinds": kinds,
    }
    with connection.cursor() as cur:
        cur.execute(PAIRS_SQL, params)
        pairs = cur.fetchall()
        if not pairs:
            return []
        cur.execute(RATES_SQL, {**params, "ids": sorted({b for _, b, _ in pairs})})
        changes_on = dict(cur.fetchall())
        cur.execute(ALERTS_SQL, {**params, "ids": sorted({a for a, _, _ in pairs})})
        alerts_on = dict(cur.fetchall())
    span = max((until - since).total_seconds() / 60, 1.0)
    names = dict(Service.objects.filter(pk__in={x for a, b, _ in pairs for x in (a, b)}).values_list("id", "name"))
    days = max(1, round(span / 1440))
    out = []
    for a, b, count in pairs:
        # chance that a random moment has a change on B in the window before it, times alerts on A
        p_change = min(1.0, changes_on.get(b, 0) * window_minutes / span)
        expected = alerts_on.get(a, 0) * p_change
        if count < lift * expected:
            continue
        evidence = f"{count} alerts on {names.get(a, a)} followed changes on {names.get(b, b)} in {days} days"
        out.append(LearnedEdge(a, b, count, round(expected, 2), confidence(count, expected), evidence))
    return out


def learn_edges(
    days: int = 30, window_minutes: int = 30, min_count: int = 3, lift: float = 3.0, now: datetime | None = None
) -> list[LearnedEdge]:
    """Upsert learned edges from the last ``days``; returns what was kept."""
    until = now or timezone.now()
    since = until - timedelta(days=days)
    found = find_pairs(since, until, window_minutes, min_count, lift)
    known = set(
        Dependency.objects.exclude(provenance=Dependency.Provenance.LEARNED).values_list("service_id", "depends_on_id")
    )
    kept = [
        e
        for e in found
        if (e.service_id, e.depends_on_id) not in known and (e.depends_on_id, e.service_id) not in known
    ]
    with transaction.atomic():
        for e in kept:
            Dependency.objects.update_or_create(
                service_id=e.service_id,
                depends_on_id=e.depends_on_id,
                provenance=Dependency.Provenance.LEARNED,
                defaults={"evidence": e.evidence[:500], "confidence": e.confidence},
            )
        stale = Dependency.objects.filter(provenance=Dependency.Provenance.LEARNED)
        keep_q = Q(pk__in=[])
        for e in kept:
            keep_q |= Q(service_id=e.service_id, depends_on_id=e.depends_on_id)
        removed, _ = stale.exclude(keep_q).delete()
    logger.info("correlation.learning.done", extra={"kept": len(kept), "candidates": len(found), "removed": removed})
    return kept
