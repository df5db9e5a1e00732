"""The schema's half of the JSON-safety check: which record strings land in which column, and how long each
column is. The rules themselves are ``integrations.jsonsafety`` (pure, shared with the integrations); the lengths
are read from the models, so a migration that widens a column widens the check with it.

Only strings stored as they are need a limit: fields the store truncates (summary, title, actor, url, commit,
repository, evidence) or hashes (external_id) cannot overflow. A service reference lands in a column only when
the source may create the service (``ServiceHint.create``); otherwise it is only looked up, and a name too long
to match anything leaves the record unmapped, which is the right outcome.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache

from django.db.models import Model

from changetrack.models import Alert, Change, Cluster, Dependency, Service
from integrations.base import AlertRecord, ChangeRecord, DependencyRecord, Record, ServiceHint
from integrations.jsonsafety import Limits, UnsafeJSON, check

__all__ = ["UnsafeJSON", "check_records", "record_limits"]


def _length(model: type[Model], field: str) -> int:
    length = model._meta.get_field(field).max_length  # type: ignore[union-attr]
    assert isinstance(length, int), f"{model.__name__}.{field} has no max_length"
    return length


@lru_cache(maxsize=1)
def _service_limits() -> Limits:
    return {
        "name": _length(Service, "name"),
        "namespace": _length(Service, "namespace"),
        "cluster": _length(Cluster, "name"),
        "workload_kind": _length(Service, "workload_kind"),
        "repository": _length(Service, "repository"),
    }


@lru_cache(maxsize=8)
def _limits(kind: str, creates_service: bool) -> Limits:
    service = {"service": _service_limits()} if creates_service else {}
    if kind == ChangeRecord.__name__:
        own = {field: _length(Change, field) for field in ("source", "kind", "severity", "status")}
        return {**own, **service}
    if kind == AlertRecord.__name__:
        own = {field: _length(Alert, field) for field in ("source", "severity", "status")}
        return {**own, **service}
    if kind == DependencyRecord.__name__:
        both = {"service": _service_limits(), "depends_on": _service_limits()} if creates_service else {}
        return {"provenance": _length(Dependency, "provenance"), **both}
    raise TypeError(f"not a record: {kind}")


def record_limits(record: Record) -> Limits:
    """The column lengths ``record``'s strings must fit, by path (``{"source": 50, "service": {"name": 253}}``)."""
    hints: list[ServiceHint] = [record.service]
    if isinstance(record, DependencyRecord):
        hints.append(record.depends_on)
    return _limits(type(record).__name__, any(h.create for h in hints))


def check_records(records: Iterable[Record]) -> None:
    """Raise ``UnsafeJSON`` (``records[0].service.name: ...``) for the first record PostgreSQL could not
    store: a NUL or lone surrogate anywhere, a non-finite number, deep nesting, or a string over its column."""
    for index, record in enumerate(records):
        try:
            check(record, record_limits(record))
        except UnsafeJSON as exc:
            exc.root = "records"
            exc.path.insert(0, index)
            raise


def check_lengths(records: Iterable[Record]) -> None:
    """Raise ``UnsafeJSON`` for the first record with a string longer than its column: ``check_records`` for
    records made from a payload that already passed the JSON-safety check (``parse_json`` decodes every stored body
    through it), where NUL, surrogates, non-finite numbers and depth cannot appear and only lengths are left to
    measure. The pipeline uses it: it reads only the handful of limited fields, not every value of the record."""
    for index, record in enumerate(records):
        problem = _too_long(record, record_limits(record))
        if problem is not None:
            path, length, limit = problem
            exc = UnsafeJSON(f"is {length} characters long; at most {limit} can be stored", root="records")
            exc.path[:] = [index, *path]
            raise exc


def _too_long(item: object, limits: Limits) -> tuple[list[str | int], int, int] | None:
    for name, limit in limits.items():
        value = getattr(item, name, None)
        if isinstance(limit, int):
            if isinstance(value, str) and len(value) > limit:
                return [name], len(value), limit
        elif value is not None:
            found = _too_long(value, limit)
            if found is not None:
                return [name, *found[0]], found[1], found[2]
    return None
