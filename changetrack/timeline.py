"""The timeline: changes, alerts and health episodes of a set of services in a window, newest first.

The one query behind ``GET /api/v1/services/{id}/timeline``, the service and alert pages' chart (and the JSON it
reloads from) and the list under the chart with its "Show more" pages. Callers choose the services (a
neighbourhood, a page's lanes) and the :class:`Filters`; this module owns the SQL, the order and the cursor.

Shape: one branch per table, each walking the ``(service_id, time)`` index once per service (LATERAL over
``unnest``), newest first, with a bounded LIMIT, so a chatty neighbour costs one page of rows rather than its
whole window; the branches meet in one UNION ALL round trip and are cut to the page there.

Order: time descending, then type (change, alert, health episode), then id descending. At one instant a change
sorts above an alert and an alert above a health episode. That is the order the API has answered with (and
encoded in its cursors) since its first release; keeping it means every cursor a client already holds still
points at the same place. The pages used the reverse tie order, but their cursors live only as long as the page
that shows them.

Cursor: the position of the last entry shown, ``base64url("<time>|<type rank>|<id>")`` (the API's format), so the
next page continues exactly where the previous one stopped even across a tie on the same instant.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import connection
from django.db.models import Q

from changetrack.models import ChangeKind

#: tie-break order between tables at the same instant (higher first); these numbers are inside every cursor
TYPE_RANK = {"change": 2, "alert": 1, "health": 0}
_RANK_TYPE = {rank: what for what, rank in TYPE_RANK.items()}
#: the ``kind`` values that stand for a whole table rather than a change kind
EVENT_KINDS = frozenset({"alert", "health"})
MAX_ID = 2**63 - 1


class InvalidCursor(ValueError):
    """A cursor that this module did not write (or that was edited on the way)."""


@dataclass(frozen=True)
class Cursor:
    """The sort key of the last entry shown; the next page holds the entries strictly after it."""

    at: datetime
    type: str
    id: int

    def encode(self) -> str:
        return base64.urlsafe_b64encode(f"{self.at.isoformat()}|{TYPE_RANK[self.type]}|{self.id}".encode()).decode()

    @classmethod
    def decode(cls, raw: str) -> Cursor:
        """Raises :class:`InvalidCursor` for anything :meth:`encode` cannot have produced."""
        try:
            at, rank, pk = base64.urlsafe_b64decode(raw.encode()).decode().split("|")
            moment = datetime.fromisoformat(at)
            what = _RANK_TYPE[int(rank)]
            ident = int(pk)
        except (ValueError, KeyError, binascii.Error, UnicodeError):
            raise InvalidCursor(raw) from None
        if moment.tzinfo is None or ident < 0:
            raise InvalidCursor(raw)
        return cls(moment, what, min(ident, MAX_ID))

    @classmethod
    def after(cls, entry: Mapping[str, Any]) -> Cursor:
        return cls(entry["timestamp"], entry["type"], entry["id"])

    def older_q(self, what: str, column: str) -> Q:
        """The ORM form of :func:`_after_cursor`, for lists that page with this cursor outside this query (the
        what-changed feed): rows of table ``what`` that sort strictly after the cursor."""
        rank, mine = TYPE_RANK[what], TYPE_RANK[self.type]
        older = Q(**{f"{column}__lt": self.at})
        same = Q(**{column: self.at})
        if rank < mine:
            return older | same
        if rank == mine:
            return older | (same & Q(id__lt=self.id))
        return older


@dataclass(frozen=True)
class Filters:
    """What a timeline holds: a window ``[since, until)``, change kinds and/or ``"alert"``/``"health"`` (empty:
    everything), sources (empty: every source).

    ``bands`` is the pages' reading, where alerts and health episodes are drawn as bands over the changes: one
    that began before ``since`` and is still open during the window belongs to it, and ``kinds``/``sources``
    narrow only the changes, so the incidents stay in view as context. Without it (the API) every entry is
    selected by its start and the filters apply to every table."""

    since: datetime
    until: datetime
    kinds: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()
    bands: bool = False

    def wants(self, what: str) -> bool:
        if not self.kinds or (self.bands and what != "change"):
            return True
        if what == "change":
            return any(k not in EVENT_KINDS for k in self.kinds)
        return what in self.kinds


def unknown_kinds(kinds: Sequence[str]) -> list[str]:
    return [k for k in kinds if k not in ChangeKind.values and k not in EVENT_KINDS]


#: per table: (type, time column, end column, kind expression, summary column, status, actor, reason)
_TABLES = {
    "change": ("changetrack_change", "occurred_at", "ended_at", "kind", "summary", "status", "actor", "''"),
    "alert": ("changetrack_alert", "started_at", "resolved_at", "'alert'", "title", "status", "''", "''"),
    "health": (
        "changetrack_healthepisode",
        "started_at",
        "ended_at",
        "'health'",
        "summary",
        "CASE WHEN ended_at IS NULL THEN 'open' ELSE 'ended' END",
        "''",
        "reason",
    ),
}
COLUMNS = (
    "type",
    "id",
    "timestamp",
    "ended_at",
    "kind",
    "source",
    "summary",
    "severity",
    "status",
    "actor",
    "reason",
    "service_id",
)


def _after_cursor(column: str, rank: int, cursor: Cursor | None) -> tuple[str, list[Any]]:
    """SQL for rows strictly after the cursor in (time desc, type rank desc, id desc) order."""
    if cursor is None:
        return "", []
    mine = TYPE_RANK[cursor.type]
    if rank < mine:
        return f" AND {column} <= %s", [cursor.at]
    if rank > mine:
        return f" AND {column} < %s", [cursor.at]
    return f" AND ({column} < %s OR ({column} = %s AND id < %s))", [cursor.at, cursor.at, cursor.id]


def _window(what: str, start: str, end: str, f: Filters) -> tuple[str, list[Any]]:
    """The branch's window and filter conditions (after ``service_id = s.service``)."""
    if f.bands and what != "change":
        # a band overlaps the window; walking the start index down from ``until`` finds the ones inside first
        return f" AND {start} < %s AND ({end} IS NULL OR {end} >= %s)", [f.until, f.since]
    sql = f" AND {start} >= %s AND {start} < %s"
    args: list[Any] = [f.since, f.until]
    if what == "change" and f.kinds:
        sql += " AND kind = ANY(%s)"
        args.append([k for k in f.kinds if k not in EVENT_KINDS])
    if f.sources and (what == "change" or not f.bands):
        sql += " AND source = ANY(%s)"
        args.append(list(f.sources))
    return sql, args


def build_query(
    ids: Sequence[int],
    f: Filters,
    *,
    limit: int | None,
    cursor: Cursor | None = None,
    caps: Mapping[str, int] | None = None,
) -> tuple[str, list[Any]] | None:
    """The SQL for the newest ``limit`` entries after ``cursor`` (all of them when ``limit`` is None), each table
    contributing at most its ``caps`` entry (default ``limit``). None when nothing can match."""
    parts: list[str] = []
    params: list[Any] = []
    for what, (table, start, end, kind, summary, status, actor, reason) in _TABLES.items():
        if not f.wants(what):
            continue
        cap = (caps or {}).get(what, limit)
        if cap is None:
            raise ValueError(f"the {what} branch needs a bound: a limit or a cap")
        window, args = _window(what, start, end, f)
        after, after_args = _after_cursor(start, TYPE_RANK[what], cursor)
        inner = (
            f"SELECT id, {start} AS ts, {end} AS ended_at, {kind} AS kind, source, {summary} AS summary, severity, "
            f"{status} AS status, {actor} AS actor, {reason} AS reason, service_id FROM {table} "
            f"WHERE service_id = s.service{window}{after} ORDER BY {start} DESC, id DESC LIMIT %s"
        )
        parts.append(
            f"(SELECT '{what}' AS type, e.id, e.ts, e.ended_at, e.kind, e.source, e.summary, e.severity, e.status, "
            f"e.actor, e.reason, e.service_id, {TYPE_RANK[what]} AS type_rank "
            f"FROM unnest(%s::bigint[]) AS s(service) "
            f"CROSS JOIN LATERAL ({inner}) AS e ORDER BY e.ts DESC, e.id DESC LIMIT %s)"
        )
        params += [list(ids), *args, *after_args, cap, cap]
    if not parts or not ids:
        return None
    query = f"SELECT * FROM ({' UNION ALL '.join(parts)}) AS events ORDER BY ts DESC, type_rank DESC, id DESC"
    if limit is None:
        return query, params
    return f"{query} LIMIT %s", [*params, limit]


def run(built: tuple[str, list[Any]] | None) -> list[dict[str, Any]]:
    """The entries a :func:`build_query` answer selects, newest first, as dicts keyed by :data:`COLUMNS`."""
    if built is None:
        return []
    width = len(COLUMNS)
    with connection.cursor() as cur:
        cur.execute(*built)
        return [dict(zip(COLUMNS, row[:width], strict=True)) for row in cur.fetchall()]


def cut(found: list[dict[str, Any]], size: int) -> tuple[list[dict[str, Any]], Cursor | None]:
    """The first ``size`` of ``found`` (fetched with ``size + 1`` or more) and the cursor of the next page."""
    if len(found) <= size or size <= 0:
        return found[: max(size, 0)], None
    shown = found[:size]
    return shown, Cursor.after(shown[-1])


def page(
    ids: Sequence[int], f: Filters, size: int, cursor: Cursor | None = None
) -> tuple[list[dict[str, Any]], Cursor | None]:
    """One page of ``size`` entries after ``cursor`` (from the newest when None) and the next page's cursor."""
    return cut(run(build_query(ids, f, limit=size + 1, cursor=cursor)), size)
