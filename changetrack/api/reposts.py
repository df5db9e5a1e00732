"""A change posted again with an ``external_id`` the API already stored (``docs/api.md``, "Posting an existing
``external_id``"): the mutable fields are updated (``"updated": true``); a different service, kind or timestamp is a
409 naming the fields, and the stored change is kept; the same ``external_id`` twice in one array is a 400 naming
both indexes. Webhook sources keep their own rule (a redelivery or rollout progress rewrites the change), which
lives in ``changetrack.ingest.changes``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rest_framework import status

from changetrack.api.errors import ItemsInvalid
from changetrack.ingest.store import UPDATABLE_CHANGE_FIELDS, lock_identities
from changetrack.models import Change
from changetrack.resolution import ServiceResolver
from integrations.base import ChangeRecord, Record

#: what a re-post may change; the rest is bookkeeping the store sets itself
_MUTABLE = tuple(f for f in UPDATABLE_CHANGE_FIELDS if f not in ("updated_at", "release_key"))


class ItemsConflict(ItemsInvalid):
    """A re-post that contradicts the stored change: 409, ``errors`` naming each conflicting field."""

    status_code = status.HTTP_409_CONFLICT


Snapshot = dict[int, tuple[Any, ...]]


def _where(index: int, is_array: bool, field: str) -> dict[str, Any]:
    return {"index": index, "field": f"[{index}].{field}"} if is_array else {"field": field}


def refuse_duplicates(records: Sequence[Record], is_array: bool) -> None:
    """400 when one array names the same ``external_id`` twice (which of the two should win is anyone's guess)."""
    if not is_array:
        return
    first: dict[str, int] = {}
    problems: list[dict[str, Any]] = []
    for index, rec in enumerate(records):
        if not isinstance(rec, ChangeRecord):
            continue
        if rec.external_id in first:
            earlier = first[rec.external_id]
            detail = f"external_id {rec.external_id!r} is at both index {earlier} and index {index}."
            problems += [{**_where(i, True, "external_id"), "detail": detail} for i in (earlier, index)]
        else:
            first[rec.external_id] = index
    if problems:
        raise ItemsInvalid(problems, problems[0]["detail"] + " Send each change once.")


def check_reposts(records: Sequence[Record], resolver: ServiceResolver, source: str, is_array: bool) -> Snapshot:
    """For the changes already stored under these ``external_id``s: raise ``ItemsConflict`` if any names a
    different service, kind or timestamp; otherwise return their mutable fields as they are now (to tell an update
    from a plain repeat afterwards). Call inside the write's transaction, with the resolver primed."""
    changes = {i: r for i, r in enumerate(records) if isinstance(r, ChangeRecord)}
    if not changes:
        return {}
    lock_identities([(source, r.external_id) for r in changes.values()])  # the lock store_records takes next
    stored = {
        row.external_id: row
        for row in Change.objects.filter(source=source, external_id__in=[r.external_id for r in changes.values()])
    }
    problems: list[dict[str, Any]] = []
    for index, rec in changes.items():
        row = stored.get(rec.external_id)
        if row is None:
            continue
        service = resolver.resolve(rec.service, source)
        differing = {
            "service": (service.pk if service else None) != row.service_id,
            "kind": rec.kind != row.kind,
            "timestamp": rec.occurred_at != row.occurred_at,
        }
        for field in (f for f, differs in differing.items() if differs):
            detail = (
                f"external_id {rec.external_id!r} is stored with another {field}; only the mutable fields may change."
            )
            problems.append({**_where(index, is_array, field), "detail": detail})
    if problems:
        raise ItemsConflict(problems, problems[0]["detail"] if len(problems) == 1 else f"{len(problems)} conflicts.")
    return {row.pk: _mutable(row) for row in stored.values()}


def updated_ids(before: Snapshot) -> set[int]:
    """The changes of ``before`` whose mutable fields the write changed."""
    if not before:
        return set()
    return {row.pk for row in Change.objects.filter(pk__in=list(before)) if _mutable(row) != before[row.pk]}


def _mutable(row: Change) -> tuple[Any, ...]:
    return tuple(getattr(row, name) for name in _MUTABLE)
