"""Storing changes: new ones with COPY, known ones updated in place (rollout progress, redelivery), an older
update that arrives after a newer one ignored."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import connection
from django.utils import timezone

from changetrack.correlation import scoring
from changetrack.infra import db
from changetrack.ingest.identities import lock_identities, prime_services
from changetrack.models import Change, Service
from changetrack.resolution import ServiceResolver
from integrations.base import ChangeRecord, ServiceHint

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


def stored_status(rec: ChangeRecord) -> str:
    """The status to store: the record's, or "failed" when its ``details.rollout.status`` says the rollout failed
    and the status does not (an API client or webhook that reports the rollout in details only). The correlation
    engine's candidate query bounds a change by its status alone (``candidates``), so the two must agree."""
    if rec.kind in scoring.NEVER_FAIL or rec.status.lower() in scoring.FAILED:
        return rec.status
    return "failed" if scoring.rollout_failed(rec.status, dict(rec.details)) else rec.status


def change_row(rec: ChangeRecord, service: Service | None) -> Change:
    return Change(
        source=rec.source,
        external_id=rec.external_id,
        kind=rec.kind,
        occurred_at=rec.occurred_at,
        ended_at=rec.ended_at,
        summary=rec.summary[:1024],
        actor=rec.actor[:255],
        severity=rec.severity,
        status=stored_status(rec),
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


#: the sequence is looked up once (MATERIALIZED), not once per id: pg_get_serial_sequence is only STABLE, so
#: without it PostgreSQL calls it again for every row
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
        rec.occurred_at.isoformat(),  # text: COPY parses it, cheaper than psycopg dumping a datetime
        rec.ended_at.isoformat() if rec.ended_at else None,
        rec.summary[:1024],
        rec.actor[:255],
        rec.severity,
        stored_status(rec),
        service_id,
        hint_json,
        json.dumps(dict(rec.details)) if rec.details else "{}",
        json.dumps([dict(d) for d in rec.diff]) if rec.diff else "[]",
        json.dumps([dict(link) for link in rec.links]) if rec.links else "[]",
        rec.commit_sha[:64],
        rec.repository[:300],
        release_key(rec.commit_sha) if rec.commit_sha else "",
    )


def store_changes(
    records: Sequence[ChangeRecord], resolver: ServiceResolver, *, update_existing: bool
) -> tuple[list[tuple[int, bool]], list[tuple[int, datetime]]]:
    """Insert new changes, update known ones in place (rollout progress), return (id, created) in input order
    and the new changes that arrived late (occurred well before they were stored).

    New rows (the common case) go in with one COPY; known rows are updated through the ORM (rare: rollout
    progress, redelivery)."""
    keys = [(r.source, r.external_id) for r in records]
    lock_identities(keys)
    known = _known_ids(keys)
    latest = _latest_per_key(records)
    prime_services(resolver, latest.values())
    existing: dict[tuple[str, str], Change] = {}
    if known and update_existing:
        existing = {(row.source, row.external_id): row for row in Change.objects.filter(pk__in=known.values())}
    now = timezone.now()
    new_values, updated = _new_and_updated(latest, known, existing, resolver, now)
    created: dict[tuple[str, str], int] = {}
    if new_values:
        created = _copy_new_changes(new_values, now)
    if updated:
        Change.objects.bulk_update(updated, [*UPDATABLE_CHANGE_FIELDS, "service"], batch_size=500)
    ids = [(created[k], True) if k in created else (known[k], False) for k in keys]
    late_after = now - timedelta(minutes=settings.CORRELATION_SKEW_MINUTES)
    late = [(created[k], latest[k].occurred_at) for k in created if latest[k].occurred_at < late_after]
    return ids, late


def _known_ids(keys: list[tuple[str, str]]) -> dict[tuple[str, str], int]:
    """(source, external_id) → id of the changes already stored."""
    with connection.wrap_database_errors, db.raw_cursor() as cur:
        cur.execute(_FIND_CHANGES, {"src": [s for s, _ in keys], "ext": [e for _, e in keys]})
        return {(src, ext): pk for pk, src, ext in cur.fetchall()}


def _latest_per_key(records: Sequence[ChangeRecord]) -> dict[tuple[str, str], ChangeRecord]:
    """The last word of the batch on each change wins, unless it is older progress."""
    latest: dict[tuple[str, str], ChangeRecord] = {}
    for rec in records:
        key = (rec.source, rec.external_id)
        if key not in latest or not _is_stale(latest[key].details, rec.details):
            latest[key] = rec
    return latest


def _new_and_updated(
    latest: dict[tuple[str, str], ChangeRecord],
    known: dict[tuple[str, str], int],
    existing: dict[tuple[str, str], Change],
    resolver: ServiceResolver,
    now: datetime,
) -> tuple[list[tuple[Any, ...]], list[Change]]:
    """COPY rows for the changes not stored yet, and the stored rows refreshed from their records (a known
    change not in ``existing`` is left as it is)."""
    new_values: list[tuple[Any, ...]] = []
    updated: list[Change] = []
    hints: dict[tuple[str, ServiceHint], tuple[Service | None, str]] = {}  # a batch names few services, many times
    for key, rec in latest.items():
        hint_key = (rec.source, rec.service)
        if hint_key not in hints:
            hints[hint_key] = (resolver.resolve(rec.service, rec.source), json.dumps(rec.service.as_dict()))
        service, hint_json = hints[hint_key]
        if key in existing:
            row = existing[key]
            if _is_stale(row.details, rec.details):
                continue  # an older update of this change arrived after a newer one
            _refresh(row, rec, service, now)
            updated.append(row)
        elif key not in known:
            new_values.append(_insert_values(rec, service.pk if service else None, hint_json))
    return new_values, updated


def _refresh(row: Change, rec: ChangeRecord, service: Service | None, now: datetime) -> None:
    """Overwrite ``row``'s updatable fields from ``rec``, keeping what enrichment added and its service when
    the record's hint no longer resolves."""
    fresh = change_row(rec, service or row.service)
    kept = {k: row.details[k] for k in ENRICHMENT_KEYS if k in (row.details or {}) and k not in fresh.details}
    fresh.details = {**fresh.details, **kept}
    for name in UPDATABLE_CHANGE_FIELDS:
        setattr(row, name, getattr(fresh, name))
    row.updated_at = now
    if service is not None:
        row.service = service
