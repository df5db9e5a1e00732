"""Storing dependency edges: one upsert per batch; an edge seen again refreshes its evidence and last_seen_at."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.db import connection
from django.utils import timezone

from changetrack.resolution import ServiceResolver
from integrations.base import DependencyRecord

UPSERT_EDGES_SQL = """
INSERT INTO changetrack_dependency
    (service_id, depends_on_id, provenance, evidence, confidence, first_seen_at, last_seen_at)
SELECT s, d, p, e, c, %(now)s, %(now)s
FROM unnest(%(s)s::bigint[], %(d)s::bigint[], %(p)s::text[], %(e)s::text[], %(c)s::float8[]) AS t(s, d, p, e, c)
ON CONFLICT (service_id, depends_on_id, provenance) DO UPDATE
    SET evidence = EXCLUDED.evidence, confidence = EXCLUDED.confidence, last_seen_at = EXCLUDED.last_seen_at
RETURNING service_id, depends_on_id, provenance, id, (xmax = 0) AS inserted
"""


def store_dependencies(records: Sequence[DependencyRecord], resolver: ServiceResolver) -> list[tuple[int, bool]]:
    """Upsert edges in one statement; an edge seen again refreshes its evidence, confidence and last_seen_at.
    Returns (edge id, created) per record; (0, False) for a record whose ends are unknown or the same service."""
    keys: list[tuple[int, int, str] | None] = []
    latest: dict[tuple[int, int, str], DependencyRecord] = {}  # one row per edge: the last record wins
    for rec in records:
        src = resolver.resolve(rec.service)
        dst = resolver.resolve(rec.depends_on)
        if src is None or dst is None or src.pk == dst.pk:
            keys.append(None)
            continue
        key = (src.pk, dst.pk, rec.provenance)
        keys.append(key)
        latest[key] = rec
    if not latest:
        return [(0, False) for _ in keys]
    edges = list(latest)
    params: dict[str, Any] = {
        "now": timezone.now(),
        "s": [k[0] for k in edges],
        "d": [k[1] for k in edges],
        "p": [k[2] for k in edges],
        "e": [latest[k].evidence[:500] for k in edges],
        "c": [latest[k].confidence for k in edges],
    }
    with connection.cursor() as cur:
        cur.execute(UPSERT_EDGES_SQL, params)
        stored = {(s, d, p): (pk, inserted) for s, d, p, pk, inserted in cur.fetchall()}
    seen: set[tuple[int, int, str]] = set()
    out: list[tuple[int, bool]] = []
    for wanted in keys:
        if wanted is None:
            out.append((0, False))
            continue
        pk, inserted = stored[wanted]
        out.append((pk, inserted and wanted not in seen))  # a repeat within the batch is not a second creation
        seen.add(wanted)
    return out
