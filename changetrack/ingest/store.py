"""Storing normalised records: bulk, idempotent on (source, external_id), safe under concurrent workers.

Used by the webhook pipeline, the REST API and the collectors alike, so every path dedupes the same way.
The entry point: one batch, one transaction. The work is split by what is stored: ``changes``, ``alerts``,
``dependencies``; ``identities`` holds the locking every writer shares.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db import transaction

from changetrack import partitions
from changetrack.ingest import events
from changetrack.ingest.alerts import store_alerts
from changetrack.ingest.changes import ENRICHMENT_KEYS, UPDATABLE_CHANGE_FIELDS, store_changes
from changetrack.ingest.dependencies import store_dependencies
from changetrack.ingest.identities import fit_external_id, lock_identities, lock_key
from changetrack.ingest.scrubbing import scrub_records
from changetrack.models import Change
from changetrack.resolution import ServiceResolver
from integrations.base import AlertRecord, ChangeRecord, DependencyRecord, Record

# re-exported: callers (pipeline, API, collectors, pollers) import these from here
__all__ = [
    "ENRICHMENT_KEYS",
    "UPDATABLE_CHANGE_FIELDS",
    "StoreResult",
    "lock_identities",
    "lock_key",
    "store_records",
    "summarize",
]


@dataclass
class StoreResult:
    """Ids in input order with whether each was created; ``alerts_to_rank`` are alerts that (re)opened."""

    changes: list[tuple[int, bool]] = field(default_factory=list)
    alerts: list[tuple[int, bool]] = field(default_factory=list)
    dependencies: list[tuple[int, bool]] = field(default_factory=list)
    alerts_to_rank: set[int] = field(default_factory=set)
    late_changes: list[tuple[int, datetime]] = field(default_factory=list)


def store_records(
    records: Sequence[Record], *, update_existing: bool = True, resolver: ServiceResolver | None = None
) -> StoreResult:
    """Store a mixed batch in one transaction. Call outside any transaction (partitions are made first).
    Every record is scrubbed first (``scrubbing``): no source stores a credential in clear."""
    resolver = resolver or ServiceResolver()
    records = scrub_records(records)
    changes = [fit_external_id(r) for r in records if isinstance(r, ChangeRecord)]
    alerts = [fit_external_id(r) for r in records if isinstance(r, AlertRecord)]
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
        if result.changes:
            events.changes_stored.send_robust(sender=Change, change_ids=[pk for pk, _ in result.changes])
    return result


def summarize(result: StoreResult) -> dict[str, Any]:
    return {
        "changes": len(result.changes),
        "alerts": len(result.alerts),
        "dependencies": len(result.dependencies),
        "created": sum(c for _, c in result.changes) + sum(c for _, c in result.alerts),
    }
