"""Storing normalised records: bulk, idempotent on (source, external_id), safe under concurrent workers.

Used by the webhook pipeline, the REST API and the collectors alike, so every path dedupes the same way.
Concurrent writers of the same key are serialised with transaction-scoped advisory locks (the change table is
partitioned, so a unique index on (source, external_id) alone is not available).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, TypeVar

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from changetrack import partitions
from changetrack.correlation import grouping
from changetrack.infra import db
from changetrack.models import Alert, Change, Service
from changetrack.resolution import ServiceResolver
from integrations.base import AlertRecord, ChangeRecord, DependencyRecord, Record, ServiceHint

_R = TypeVar("_R", ChangeRecord, AlertRecord)
UPDATABLE_CHANGE_FIELDS = (
    "summary",
    "actor",
    "severity",
    "status",
    "ended_at",
    "details",
    "diff",
    "links",
    "commit_sha",
    "repository",
    "release_key",
    "updated_at",
)


@dataclass
class StoreResult:
    """Ids in input order with whether each was created; ``alerts_to_rank`` are alerts that (re)opened."""

    changes: list[tuple[int, bool]] = field(default_factory=list)
    alerts: list[tuple[int, bool]] = field(default_factory=list)
    dependencies: list[tuple[int, bool]] = field(default_factory=list)
    alerts_to_rank: set[int] = field(default_factory=set)
    late_changes: list[tuple[int, datetime]] = field(default_factory=list)


def lock_key(source: str, external_id: str) -> int:
    """The advisory-lock key of one change or alert identity (shared by every writer of that row)."""
    return db.advisory_key(source, external_id)


def lock_identities(keys: Sequence[tuple[str, str]]) -> None:
    """Take advisory locks for the identities, in a fixed order so two batches never deadlock."""
    db.advisory_xact_lock(lock_key(s, e) for s, e in keys)


#: details keys added after storage by enrichment tasks (GitHub commit ranges); a later update of the same change
#: from its source (rollout progress) does not carry them, so it must not erase them
ENRICHMENT_KEYS = ("commit_range",)


def _is_stale(current: Any, incoming: Any) -> bool:
    """True when ``incoming`` reports older progress than ``current`` (both carry ``details["_order"]``, a
    sortable list a source sets when its updates can arrive out of order: a deployment after its status,
    a Jenkins STARTED after FINALIZED). Sources without it keep "the last one stored wins"."""
    a = current.get("_order") if isinstance(current, dict) else None
    b = incoming.get("_order") if isinstance(incoming, Mapping) else None
    if not isinstance(a, list) or not isinstance(b, list):
        return False
    try:
        return bool(b < a)
    except TypeError:  # shapes changed between versions of a source: do not guess
        return False


def release_key(sha: str) -> str:
    """The first 7 hex chars of a commit SHA: Argo CD, Jenkins and image tags often carry only the short SHA
    (``git rev-parse --short`` gives 7), and it must link to the full SHA GitHub reports."""
    sha = sha.strip().lower()
    return sha[:7] if len(sha) >= 7 and all(c in "0123456789abcdef" for c in sha) else ""


def store_records(
    records: Sequence[Record], *, update_existing: bool = True, resolver: ServiceResolver | None = None
) -> StoreResult:
    """Store a mixed batch in one transaction. Call outside any transaction (partitions are made first)."""
    resolver = resolver or ServiceResolver()
    changes = [_fit_external_id(r) for r in records if isinstance(r, ChangeRecord)]
    alerts = [_fit_external_id(r) for r in records if isinstance(r, AlertRecord)]
    deps = [r for r in records if isinstance(r, DependencyRecord)]
    if changes:
        partitions.ensure_for("changetrack_change", (r.occurred_at for r in changes))
    result = StoreResult()
    with transaction.atomic():
        if changes:
            result.changes, result.late_changes = store_changes(changes, resolver, update_existing=update_existing)
        if alerts:
            result.alerts, result.alerts_to_rank = store_alerts(alerts, resolver)
        if deps:
            result.dependencies = store_dependencies(deps, resolver)
    return result


def _fit_external_id(rec: _R) -> _R:
    """An external id longer than the column keeps a readable prefix and a digest of the whole, so it is stored
    (not failed) and stays unique and idempotent."""
    if len(rec.external_id) <= 255:
        return rec
    digest = hashlib.sha256(rec.external_id.encode("utf-8", "surrogatepass")).hexdigest()
    return dataclasses.replace(rec, external_id=f"{rec.external_id[:190]}~{digest}")


def _change_row(rec: ChangeRecord, service: Service | None) -> Change:
    return Change(
        source=rec.source,
        external_id=rec.external_id,
        kind=rec.kind,
        occurred_at=rec.occurred_at,
        ended_at=rec.ended_at,
        summary=rec.summary[:1024],
        actor=rec.actor[:255],
        severity=rec.severity,
        status=rec.status,
        service=service,
        service_hint=rec.service.as_dict(),
        details=dict(rec.details),
        diff=[dict(d) for d in rec.diff],
        links=[dict(link) for link in rec.links],
        commit_sha=rec.commit_sha[:64],
        repository=rec.repository[:300],
        release_key=release_key(rec.commit_sha),
    )


_FIND_CHANGES = """
SELECT c.id, c.source, c.external_id FROM changetrack_change c
JOIN unnest(%(src)b::text[], %(ext)b::text[]) AS k(source, external_id)
    ON c.source = k.source AND c.external_id = k.external_id
WHERE c.external_id = ANY(%(ext)b::text[])  -- lets the planner probe the (source, external_id) index, not sort the table
"""
_COPY_CHANGES = """
COPY changetrack_change (id, source, external_id, kind, occurred_at, ended_at, summary, actor, severity, status,
    service_id, service_hint, details, diff, links, commit_sha, repository, release_key, created_at, updated_at)
FROM STDIN
"""


#: the sequence is looked up once (MATERIALIZED), not once per id: pg_get_serial_sequence is only STABLE, and
#: calling it for each of 1,000 rows took most of this query's time
_NEXT_IDS = """
WITH s AS MATERIALIZED (SELECT pg_get_serial_sequence('changetrack_change', 'id')::regclass AS seq)
SELECT nextval(s.seq) FROM s, generate_series(1, %s)
"""


def _copy_new_changes(values: list[tuple[Any, ...]], now: datetime) -> dict[tuple[str, str], int]:
    """Insert new changes with COPY (the fastest way into PostgreSQL; it routes rows to their partitions).
    COPY returns nothing, so the ids are drawn from the table's sequence first."""
    with connection.wrap_database_errors, db.raw_cursor() as cur:
        cur.execute(_NEXT_IDS, [len(values)])
        ids = [row[0] for row in cur.fetchall()]
        stamp = now.isoformat()
        with cur.copy(_COPY_CHANGES) as copy:
            for pk, row in zip(ids, values, strict=True):
                copy.write_row((pk, *row, stamp, stamp))
    return {(row[0], row[1]): pk for pk, row in zip(ids, values, strict=True)}


def _insert_values(rec: ChangeRecord, service_id: int | None, hint_json: str) -> tuple[Any, ...]:
    return (
        rec.source,
        rec.external_id,
        rec.kind,
        rec.occurred_at.isoformat(),  # text: psycopg's datetime dumping cost 6 µs a value here (COPY parses it)
        rec.ended_at.isoformat() if rec.ended_at else None,
        rec.summary[:1024],
        rec.actor[:255],
        rec.severity,
        rec.status,
        service_id,
        hint_json,
        json.dumps(dict(rec.details)) if rec.details else "{}",
        json.dumps([dict(d) for d in rec.diff]) if rec.diff else "[]",
        json.dumps([dict(link) for link in rec.links]) if rec.links else "[]",
        rec.commit_sha[:64],
        rec.repository[:300],
        release_key(rec.commit_sha) if rec.commit_sha else "",
    )


def _prime(resolver: ServiceResolver, records: Iterable[ChangeRecord | AlertRecord]) -> None:
    """One query for the services a batch names precisely, instead of one per distinct service."""
    by_source: dict[str, set[ServiceHint]] = {}
    for rec in records:
        by_source.setdefault(rec.source, set()).add(rec.service)
    for source, hints in by_source.items():
        resolver.prime(hints, source)


def store_changes(
    records: Sequence[ChangeRecord], resolver: ServiceResolver, *, update_existing: bool
) -> tuple[list[tuple[int, bool]], list[tuple[int, datetime]]]:
    """Insert new changes, update known ones in place (rollout progress), return (id, created) in input order
    and the new changes that arrived late (occurred well before they were stored).

    New rows (the common case) go in one INSERT ... SELECT FROM unnest(arrays); known rows are updated through
    the ORM (rare: rollout progress, redelivery)."""
    keys = [(r.source, r.external_id) for r in records]
    lock_identities(keys)
    with connection.wrap_database_errors, db.raw_cursor() as cur:
        cur.execute(_FIND_CHANGES, {"src": [s for s, _ in keys], "ext": [e for _, e in keys]})
        known: dict[tuple[str, str], int] = {(src, ext): pk for pk, src, ext in cur.fetchall()}
    latest: dict[tuple[str, str], ChangeRecord] = {}
    for rec in records:
        key = (rec.source, rec.external_id)
        if key not in latest or not _is_stale(latest[key].details, rec.details):
            latest[key] = rec  # the last word of the batch wins, unless it is older progress
    _prime(resolver, latest.values())
    existing: dict[tuple[str, str], Change] = {}
    if known and update_existing:
        existing = {(row.source, row.external_id): row for row in Change.objects.filter(pk__in=known.values())}
    new_values: list[tuple[Any, ...]] = []
    updated: list[Change] = []
    now = timezone.now()
    hints: dict[tuple[str, ServiceHint], tuple[Service | None, str]] = {}  # a batch names few services, many times
    for key, rec in latest.items():
        hint_key = (rec.source, rec.service)
        if hint_key not in hints:
            hinted = resolver.resolve(rec.service, rec.source)
            hints[hint_key] = (hinted, json.dumps(rec.service.as_dict()))
        service, hint_json = hints[hint_key]
        if key in existing:
            row = existing[key]
            if _is_stale(row.details, rec.details):
                continue  # an older update of this change arrived after a newer one
            fresh = _change_row(rec, service or row.service)
            kept = {k: row.details[k] for k in ENRICHMENT_KEYS if k in (row.details or {}) and k not in fresh.details}
            fresh.details = {**fresh.details, **kept}
            for name in UPDATABLE_CHANGE_FIELDS:
                setattr(row, name, getattr(fresh, name))
            row.updated_at = now
            if service is not None:
                row.service = service
            updated.append(row)
        elif key not in known:
            new_values.append(_insert_values(rec, service.pk if service else None, hint_json))
    created: dict[tuple[str, str], int] = {}
    if new_values:
        created = _copy_new_changes(new_values, now)
    if updated:
        Change.objects.bulk_update(updated, [*UPDATABLE_CHANGE_FIELDS, "service"], batch_size=500)
    ids = [(created[k], True) if k in created else (known[k], False) for k in keys]
    late_after = now - timedelta(minutes=settings.CORRELATION_SKEW_MINUTES)
    late = [(created[k], latest[k].occurred_at) for k in created if latest[k].occurred_at < late_after]
    return ids, late


def store_alerts(records: Sequence[AlertRecord], resolver: ServiceResolver) -> tuple[list[tuple[int, bool]], set[int]]:
    """Apply lifecycle events in time order. Returns (id, created) in input order and the alerts that opened
    or re-opened (their suspects must be ranked)."""
    keys = [(r.source, r.external_id) for r in records]
    lock_identities(keys)
    by_key: dict[tuple[str, str], Alert] = {}
    for source in {s for s, _ in keys}:
        for row in Alert.objects.filter(source=source, external_id__in=[e for s, e in keys if s == source]):
            by_key[(row.source, row.external_id)] = row
    _prime(resolver, records)
    created: set[tuple[str, str]] = set()
    dirty: set[tuple[str, str]] = set()
    opened: set[tuple[str, str]] = set()
    for rec in sorted(records, key=lambda r: r.occurred_at):
        key = (rec.source, rec.external_id)
        alert = by_key.get(key)
        if alert is None:
            alert = _new_alert(rec, resolver.resolve(rec.service, rec.source))
            by_key[key] = alert
            created.add(key)
            opened.add(key)
        elif apply_transition(alert, rec):
            opened.add(key)
        dirty.add(key)
    for key in created:
        by_key[key].save()
    for key in dirty - created:
        by_key[key].save()
    # an incident resolves with its last open alert and re-opens with any of them
    grouping.refresh_incidents({i for k in dirty - created if (i := by_key[k].incident_id) is not None})
    ids = [(by_key[k].pk, k in created) for k in keys]
    to_rank = {by_key[k].pk for k in opened if by_key[k].status != Alert.Status.RESOLVED or k in created}
    return ids, to_rank


def _new_alert(rec: AlertRecord, service: Service | None) -> Alert:
    started = rec.started_at or rec.occurred_at
    events = [rec.event_id] if rec.event_id else []
    return Alert(
        source=rec.source,
        external_id=rec.external_id,
        title=rec.title[:1024],
        severity=rec.severity,
        status=rec.status,
        started_at=started,
        last_event_at=rec.occurred_at,
        acknowledged_at=rec.occurred_at if rec.status == Alert.Status.ACKNOWLEDGED else None,
        resolved_at=rec.occurred_at if rec.status == Alert.Status.RESOLVED else None,
        service=service,
        service_hint=rec.service.as_dict(),
        labels=dict(rec.labels),
        details={**rec.details, "_events": events},
        links=[dict(x) for x in rec.links],
        url=rec.url[:1000],
    )


def apply_transition(alert: Alert, rec: AlertRecord) -> bool:
    """Move ``alert`` by one lifecycle event; returns True when the alert (re)opened. Replays of an event
    already applied and events older than the last one applied do not move the state."""
    events: list[str] = list(alert.details.get("_events", []))
    if rec.event_id and rec.event_id in events:
        return False
    if rec.event_id:
        alert.details = {**alert.details, "_events": (events + [rec.event_id])[-50:]}
    if rec.started_at and rec.started_at < alert.started_at:
        alert.started_at = rec.started_at
    if rec.occurred_at < alert.last_event_at:
        return False  # out of order: an older event never overrides a newer state
    alert.last_event_at = rec.occurred_at
    if rec.title:
        alert.title = rec.title[:1024]
    reopened = False
    if rec.status == Alert.Status.TRIGGERED:
        if alert.status == Alert.Status.RESOLVED:
            alert.status, alert.resolved_at = Alert.Status.TRIGGERED, None
            alert.trigger_count += 1
            reopened = True
        elif rec.retrigger:
            alert.trigger_count += 1
        alert.severity = rec.severity or alert.severity
    elif rec.status == Alert.Status.ACKNOWLEDGED and alert.status != Alert.Status.RESOLVED:
        alert.status, alert.acknowledged_at = Alert.Status.ACKNOWLEDGED, rec.occurred_at
    elif rec.status == Alert.Status.RESOLVED and alert.status != Alert.Status.RESOLVED:
        alert.status, alert.resolved_at = Alert.Status.RESOLVED, rec.occurred_at
    return reopened


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


def summarize(result: StoreResult) -> dict[str, Any]:
    return {
        "changes": len(result.changes),
        "alerts": len(result.alerts),
        "dependencies": len(result.dependencies),
        "created": sum(c for _, c in result.changes) + sum(c for _, c in result.alerts),
    }
