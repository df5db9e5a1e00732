"""Writing through the API: validate the whole body first, then store it in one transaction.

Every write goes through ``changetrack.ingest.store.store_records`` (the same idempotency and lifecycle rules as
the webhooks) and then ``after_store`` so new alerts and late changes are ranked.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.db import transaction
from rest_framework import exceptions, serializers

from changetrack import partitions
from changetrack.api import fastcheck, reposts
from changetrack.api.errors import ItemsInvalid, flatten_errors
from changetrack.api.outputs import service_ref
from changetrack.api.serializers import API_SOURCE, MAX_ITEMS
from changetrack.ingest.pipeline import after_store
from changetrack.ingest.store import StoreResult, store_records
from changetrack.resolution import AmbiguousService, ServiceResolver
from integrations.base import ChangeRecord, Record, ServiceHint


def split_body(data: Any) -> tuple[list[Any], bool]:
    """The items of a body and whether it was an array."""
    if isinstance(data, list):
        if len(data) > MAX_ITEMS:
            raise exceptions.ValidationError(
                {"body": [f"An array holds at most {MAX_ITEMS} items; this one has {len(data)}. Split it."]}
            )
        return data, True
    if isinstance(data, dict):
        return [data], False
    raise exceptions.ValidationError({"body": ["The body must be a JSON object or an array of objects."]})


def validate_items(
    serializer_class: type[serializers.Serializer], items: list[Any], is_array: bool
) -> list[dict[str, Any]]:
    """Validate every item; any invalid item rejects the body whole, naming each bad index.

    Valid items take the fast path compiled from the serializer (``fastcheck``); as soon as one item is not
    plainly valid, the serializer validates the body and words the errors. One list serializer for the whole
    array: a serializer instance per item would deep-copy its fields a thousand times."""
    check = fastcheck.checker(serializer_class)
    if check is not None:
        try:
            return [check(item) for item in items]
        except fastcheck.Unsure:
            pass
    if not is_array:
        single = serializer_class(data=items[0])
        single.is_valid(raise_exception=True)
        return [single.validated_data]
    many = serializer_class(data=items, many=True)
    if many.is_valid():
        return list(many.validated_data)
    problems: list[dict[str, Any]] = []
    bad = 0
    errors = many.errors  # DRF 3.18: {index: errors} for the bad items only; older versions: a list
    by_index = errors.items() if isinstance(errors, dict) else enumerate(errors)
    for index, item_errors in sorted((int(i), e) for i, e in by_index if str(i).isdigit()):
        if item_errors:
            bad += 1
            problems += flatten_errors(item_errors, f"[{index}]", index)
    if not problems:
        raise exceptions.ValidationError(errors)
    raise ItemsInvalid(
        problems, f"{bad} of {len(items)} items are invalid (first: item {problems[0]['index']}); nothing was stored."
    )


def _ambiguous(exc: AmbiguousService, field: str, index: int | None) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "field": field,
        "detail": str(exc),
        "candidates": [service_ref(s) for s in exc.candidates],
    }
    if index is not None:
        entry["index"] = index
        entry["field"] = f"[{index}].{field}"
    return entry


def store(
    records: Sequence[Record],
    hints: Sequence[Sequence[tuple[str, ServiceHint]]],
    is_array: bool,
    source: str = API_SOURCE,
) -> tuple[StoreResult, set[int]]:
    """Resolve every service reference, then store; all in one transaction, so an ambiguous reference at any
    index leaves nothing behind (not even services created for earlier items). Also returns the ids of stored
    changes a re-post updated (``reposts``: a conflicting re-post is a 409, a repeat inside an array a 400)."""
    reposts.refuse_duplicates(records, is_array)
    moments = [r.occurred_at for r in records if isinstance(r, ChangeRecord)]
    if moments:
        partitions.ensure_for("changetrack_change", moments)  # outside the transaction, as store_records wants
    resolver = ServiceResolver()
    with transaction.atomic():
        resolver.prime([hint for item in hints for _, hint in item], source)
        problems: list[dict[str, Any]] = []
        for index, item_hints in enumerate(hints):
            resolved = []
            for field, hint in item_hints:
                try:
                    resolved.append(resolver.resolve(hint, source))
                except AmbiguousService as exc:
                    problems.append(_ambiguous(exc, field, index if is_array else None))
            if len(resolved) == 2 and resolved[0] is not None and resolved[0] == resolved[1]:
                entry: dict[str, Any] = {
                    "field": "depends_on",
                    "detail": "Both references name the same service; a service cannot depend on itself.",
                }
                if is_array:
                    entry.update(index=index, field=f"[{index}].depends_on")
                problems.append(entry)
        if problems:
            detail = (
                problems[0]["detail"]
                if len(problems) == 1
                else f"{len(problems)} service references are invalid; nothing was stored."
            )
            raise ItemsInvalid(problems, detail)
        before = reposts.check_reposts(records, resolver, source, is_array)
        result = store_records(records, update_existing=bool(before), resolver=resolver)
        updated = reposts.updated_ids(before)
    after_store(result.alerts_to_rank, result.late_changes)
    return result, updated
