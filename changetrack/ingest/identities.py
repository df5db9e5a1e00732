"""What every writer of stored records shares: the advisory lock of a (source, external_id) identity, an
external id that fits its column, and resolving the services a batch names in one query.

Concurrent writers of the same key are serialised with transaction-scoped advisory locks (the change table is
partitioned, so a unique index on (source, external_id) alone is not available).
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Iterable, Sequence
from typing import TypeVar

from changetrack.infra import db
from changetrack.resolution import ServiceResolver
from integrations.base import AlertRecord, ChangeRecord, ServiceHint

_R = TypeVar("_R", ChangeRecord, AlertRecord)


def lock_key(source: str, external_id: str) -> int:
    """The advisory-lock key of one change or alert identity (shared by every writer of that row)."""
    return db.advisory_key(source, external_id)


def lock_identities(keys: Sequence[tuple[str, str]]) -> None:
    """Take advisory locks for the identities, in a fixed order so two batches never deadlock."""
    db.advisory_xact_lock(lock_key(s, e) for s, e in keys)


def fit_external_id(rec: _R) -> _R:
    """An external id longer than the column keeps a readable prefix and a digest of the whole, so it is stored
    (not failed) and stays unique and idempotent."""
    if len(rec.external_id) <= 255:
        return rec
    digest = hashlib.sha256(rec.external_id.encode("utf-8", "surrogatepass")).hexdigest()
    return dataclasses.replace(rec, external_id=f"{rec.external_id[:190]}~{digest}")


def prime_services(resolver: ServiceResolver, records: Iterable[ChangeRecord | AlertRecord]) -> None:
    """One query for the services a batch names precisely, instead of one per distinct service."""
    by_source: dict[str, set[ServiceHint]] = {}
    for rec in records:
        by_source.setdefault(rec.source, set()).add(rec.service)
    for source, hints in by_source.items():
        resolver.prime(hints, source)
