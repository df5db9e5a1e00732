"""Storing dependency edges: one upsert per batch; an edge seen again refreshes its evidence and last_seen_at.

Edges read from traces (provenance ``traces``, whatever the source: the Prometheus service graph, Jaeger, X-Ray)
get three more rules here, so every such source behaves the same:

- their names resolve like any non-authoritative source's (aliases, scoped to the source ``traces`` or to any
  source; the exact name; loose spellings) and never create a service;
- an edge with an end that matches nothing is kept as an ``UnmappedEdge`` (listed on the unmapped page, stored as
  a ``Dependency`` once both ends resolve: ``remap_edges``);
- their confidence comes from the call volume (``trace_confidence``), and they expire when no source has reported
  them for ``TRACE_EDGE_EXPIRY_DAYS`` (``expire_trace_edges``).

An edge of another provenance between the same services is its own row: a trace edge never overwrites a declared,
Kubernetes or learned one.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import connection
from django.utils import timezone

from changetrack.models import Dependency, UnmappedEdge
from changetrack.resolution import ServiceResolver, hint_from_dict
from integrations.base import DependencyRecord, ServiceHint

TRACES = Dependency.Provenance.TRACES.value
#: calls over a source's window at which a trace edge is as sure as a declared one (see ``trace_confidence``)
FULL_CONFIDENCE_CALLS = 1000
MIN_TRACE_CONFIDENCE = 0.2

UPSERT_EDGES_SQL = """
INSERT INTO changetrack_dependency
    (service_id, depends_on_id, provenance, evidence, confidence, calls, errors, connection_type,
     first_seen_at, last_seen_at)
SELECT s, d, p, e, c, n, f, t, %(now)s, %(now)s
FROM unnest(%(s)s::bigint[], %(d)s::bigint[], %(p)s::text[], %(e)s::text[], %(c)s::float8[], %(n)s::bigint[],
            %(f)s::bigint[], %(t)s::text[]) AS x(s, d, p, e, c, n, f, t)
ON CONFLICT (service_id, depends_on_id, provenance) DO UPDATE
    SET evidence = EXCLUDED.evidence, confidence = EXCLUDED.confidence, calls = EXCLUDED.calls,
        errors = EXCLUDED.errors, connection_type = EXCLUDED.connection_type,
        last_seen_at = GREATEST(changetrack_dependency.last_seen_at, EXCLUDED.last_seen_at)
RETURNING service_id, depends_on_id, provenance, id, (xmax = 0) AS inserted
"""


def trace_confidence(calls: int | None) -> float:
    """How sure a trace edge is, from its call count over the source's window: ``log10(calls + 1) /
    log10(FULL_CONFIDENCE_CALLS + 1)``, between ``MIN_TRACE_CONFIDENCE`` and 1. One call gives 0.2, 10 calls
    0.35, 100 calls 0.67, 1,000 calls or more 1.0: a handful of spans may be a health check or a one-off script,
    a steady stream is a real dependency. No count: the floor."""
    if not calls or calls <= 0:
        return MIN_TRACE_CONFIDENCE
    return round(max(MIN_TRACE_CONFIDENCE, min(1.0, math.log10(calls + 1) / math.log10(FULL_CONFIDENCE_CALLS + 1))), 3)


def hint_key(hint: ServiceHint) -> str:
    return json.dumps(hint.as_dict(), sort_keys=True)[:1000]


def store_dependencies(
    records: Sequence[DependencyRecord], resolver: ServiceResolver, *, now: datetime | None = None
) -> list[tuple[int, bool]]:
    """Upsert edges in one statement; an edge seen again refreshes its evidence, confidence, counts and
    last_seen_at. Returns (edge id, created) per record; (0, False) for a record whose ends are unknown (a trace
    edge's are kept as an ``UnmappedEdge``) or the same service."""
    now = now or timezone.now()
    keys: list[tuple[int, int, str] | None] = []
    latest: dict[tuple[int, int, str], DependencyRecord] = {}  # one row per edge: the last record wins
    unmapped: list[tuple[DependencyRecord, bool, bool]] = []
    for rec in records:
        traced = rec.provenance == TRACES
        source = TRACES if traced else ""  # alias rules scoped to "traces" apply to every tracing source
        src = resolver.resolve(rec.service, source)
        dst = resolver.resolve(rec.depends_on, source)
        if traced and (src is None or dst is None):
            unmapped.append((rec, src is None, dst is None))
        if src is None or dst is None or src.pk == dst.pk:
            keys.append(None)
            continue
        key = (src.pk, dst.pk, rec.provenance)
        keys.append(key)
        latest[key] = replace(rec, confidence=trace_confidence(rec.calls)) if traced else rec
    if unmapped:
        _keep_unmapped(unmapped, now)
    _forget_mapped([r for r in records if r.provenance == TRACES], unmapped)
    if not latest:
        return [(0, False) for _ in keys]
    stored = _upsert(latest, now)
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


def _upsert(latest: dict[tuple[int, int, str], DependencyRecord], now: datetime) -> dict[tuple[int, int, str], Any]:
    edges = list(latest)
    params: dict[str, Any] = {
        "now": now,
        "s": [k[0] for k in edges],
        "d": [k[1] for k in edges],
        "p": [k[2] for k in edges],
        "e": [latest[k].evidence[:500] for k in edges],
        "c": [latest[k].confidence for k in edges],
        "n": [latest[k].calls for k in edges],
        "f": [latest[k].errors for k in edges],
        "t": [latest[k].connection_type[:40] for k in edges],
    }
    with connection.cursor() as cur:
        cur.execute(UPSERT_EDGES_SQL, params)
        return {(s, d, p): (pk, inserted) for s, d, p, pk, inserted in cur.fetchall()}


def _keep_unmapped(unmapped: list[tuple[DependencyRecord, bool, bool]], now: datetime) -> None:
    """Upsert the trace edges with an unknown end (one row per pair of names and provenance)."""
    rows = {
        (rec.provenance, hint_key(rec.service), hint_key(rec.depends_on)): UnmappedEdge(
            provenance=rec.provenance,
            service_key=hint_key(rec.service),
            depends_on_key=hint_key(rec.depends_on),
            service_hint=rec.service.as_dict(),
            depends_on_hint=rec.depends_on.as_dict(),
            service_unmapped=src_missing,
            depends_on_unmapped=dst_missing,
            evidence=rec.evidence[:500],
            calls=rec.calls,
            errors=rec.errors,
            connection_type=rec.connection_type[:40],
            first_seen_at=now,
            last_seen_at=now,
        )
        for rec, src_missing, dst_missing in unmapped
    }
    UnmappedEdge.objects.bulk_create(
        list(rows.values()),
        update_conflicts=True,
        unique_fields=["provenance", "service_key", "depends_on_key"],
        update_fields=[
            "service_unmapped",
            "depends_on_unmapped",
            "evidence",
            "calls",
            "errors",
            "connection_type",
            "last_seen_at",
        ],
    )


def _forget_mapped(traced: list[DependencyRecord], unmapped: list[tuple[DependencyRecord, bool, bool]]) -> None:
    """Trace edges that resolved this time leave the unmapped list (a name mapped since they were kept). The
    unmapped list is short next to a graph, so it is read whole and compared here."""
    if not traced:
        return
    kept = UnmappedEdge.objects.values_list("pk", "provenance", "service_key", "depends_on_key")
    known = {(p, s, d): pk for pk, p, s, d in kept}
    if not known:
        return
    still = {id(rec) for rec, _, _ in unmapped}
    keys = {(r.provenance, hint_key(r.service), hint_key(r.depends_on)) for r in traced if id(r) not in still}
    stale = [known[k] for k in keys if k in known]
    if stale:
        UnmappedEdge.objects.filter(pk__in=stale).delete()


def remap_edges() -> int:
    """Store every unmapped edge whose ends now both resolve (an alias or a service added since) as a
    ``Dependency`` seen when it was last reported, and drop it from the unmapped list. Returns how many."""
    resolver = ServiceResolver()
    mapped = 0
    for row in UnmappedEdge.objects.order_by("last_seen_at")[:20000]:
        service, depends_on = hint_from_dict(row.service_hint), hint_from_dict(row.depends_on_hint)
        if service is None or depends_on is None:
            row.delete()
            continue
        if resolver.resolve(service, TRACES) is None or resolver.resolve(depends_on, TRACES) is None:
            continue
        record = DependencyRecord(
            service=service,
            depends_on=depends_on,
            provenance=row.provenance,
            evidence=row.evidence,
            calls=row.calls,
            errors=row.errors,
            connection_type=row.connection_type,
        )
        store_dependencies([record], resolver, now=row.last_seen_at)
        mapped += 1
    return mapped


def expire_trace_edges(now: datetime | None = None, days: int | None = None) -> int:
    """Delete trace edges (mapped or not) that no source has reported for ``days`` (``TRACE_EDGE_EXPIRY_DAYS``):
    a call path that stopped is no reason to rank a change. Edges of other provenances are never touched.
    Returns how many were deleted."""
    cutoff = (now or timezone.now()) - timedelta(days=days if days is not None else settings.TRACE_EDGE_EXPIRY_DAYS)
    deleted, _ = Dependency.objects.filter(provenance=TRACES, last_seen_at__lt=cutoff).delete()
    gone, _ = UnmappedEdge.objects.filter(last_seen_at__lt=cutoff).delete()
    return deleted + gone
