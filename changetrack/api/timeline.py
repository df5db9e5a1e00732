"""A service's timeline: changes, alerts and health episodes of the service and its neighbours, newest first.

One branch per table, each on its (service_id, time) index with a bounded LIMIT, in one UNION ALL round trip. The cursor is
the position of the last entry (time, type, id), so the next page continues exactly where this one stopped.
"""

from __future__ import annotations

import base64
import binascii
from datetime import UTC, datetime, timedelta
from typing import Any

from django.db import connection
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import exceptions
from rest_framework import serializers as drf
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.utils.urls import replace_query_param

from changetrack.api import outputs
from changetrack.api.base import MAX_ID, READ_ERRORS, ApiView
from changetrack.api.fields import OffsetDateTimeField
from changetrack.correlation.engine import neighbourhood
from changetrack.models import ChangeKind, Service

#: tie-break order between tables at the same instant (higher first)
TYPE_RANK = {"change": 2, "alert": 1, "health": 0}
EVENT_KINDS = {"alert", "health"}


class TimelineQuery(drf.Serializer):
    since = OffsetDateTimeField(required=False)
    until = OffsetDateTimeField(required=False)
    depth = drf.IntegerField(min_value=0, max_value=3, required=False, default=0)
    kind = drf.CharField(required=False, max_length=500)
    source = drf.CharField(required=False, max_length=500)
    limit = drf.IntegerField(min_value=1, max_value=500, required=False, default=100)
    cursor = drf.CharField(required=False, max_length=200)

    def validate_kind(self, value: str) -> list[str]:
        kinds = [k.strip() for k in value.split(",") if k.strip()]
        unknown = [k for k in kinds if k not in ChangeKind.values and k not in EVENT_KINDS]
        if unknown:
            raise drf.ValidationError(f"Unknown kind(s): {', '.join(unknown)}; use change kinds, 'alert' or 'health'.")
        return kinds

    def validate_source(self, value: str) -> list[str]:
        return [s.strip() for s in value.split(",") if s.strip()]

    def validate_cursor(self, value: str) -> tuple[datetime, int, int]:
        try:
            at, rank, pk = base64.urlsafe_b64decode(value.encode()).decode().split("|")
            moment = datetime.fromisoformat(at)
            if moment.tzinfo is None:
                raise ValueError("naive cursor")
            return moment, int(rank), min(int(pk), 2**63 - 1)
        except (ValueError, binascii.Error, UnicodeDecodeError):
            raise drf.ValidationError("Invalid cursor; use the `next` URL as given.") from None

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        attrs.setdefault("until", timezone.now())
        attrs.setdefault("since", attrs["until"] - timedelta(hours=24))
        if attrs["since"] >= attrs["until"]:
            raise drf.ValidationError({"since": ["`since` must be before `until`."]})
        return attrs


def encode_cursor(at: datetime, rank: int, pk: int) -> str:
    return base64.urlsafe_b64encode(f"{at.isoformat()}|{rank}|{pk}".encode()).decode()


#: per table: (type, time column, end column, kind expression, summary column, status expression)
TABLES = {
    "change": ("changetrack_change", "occurred_at", "ended_at", "kind", "summary", "status"),
    "alert": ("changetrack_alert", "started_at", "resolved_at", "'alert'", "title", "status"),
    "health": (
        "changetrack_healthepisode",
        "started_at",
        "ended_at",
        "'health'",
        "summary",
        "CASE WHEN ended_at IS NULL THEN 'open' ELSE 'ended' END",
    ),
}
COLUMNS = ("type", "id", "timestamp", "ended_at", "kind", "source", "summary", "severity", "status", "service_id")


def _after_cursor(column: str, rank: int, cursor: tuple[datetime, int, int] | None) -> tuple[str, list[Any]]:
    """SQL for rows strictly after the cursor in (time desc, type rank desc, id desc) order."""
    if cursor is None:
        return "", []
    at, crank, cid = cursor
    if rank < crank:
        return f" AND {column} <= %s", [at]
    if rank > crank:
        return f" AND {column} < %s", [at]
    return f" AND ({column} < %s OR ({column} = %s AND id < %s))", [at, at, cid]


def _wanted(kinds: list[str] | None, what: str) -> bool:
    if not kinds:
        return True
    if what == "change":
        return any(k in ChangeKind.values for k in kinds)
    return what in kinds


def build_query(ids: list[int], q: dict[str, Any]) -> tuple[str, list[Any]] | None:
    """The SQL for up to ``limit + 1`` entries, newest first, in one round trip. Each table's branch walks the
    (service_id, time) index once per service (LATERAL, newest first, LIMIT limit + 1), so a chatty neighbour
    costs one page of rows, not its whole day; the branches are then merged and cut to the page.
    None when nothing can match."""
    kinds, sources, limit, cursor = q.get("kind"), q.get("source"), q["limit"], q.get("cursor")
    parts: list[str] = []
    params: list[Any] = []
    for what, (table, at, end, kind, summary, status) in TABLES.items():
        if not _wanted(kinds, what):
            continue
        inner = (
            f"SELECT id, {at} AS ts, {end} AS ended_at, {kind} AS kind, source, {summary} AS summary, severity, "
            f"{status} AS status, service_id FROM {table} WHERE service_id = s.service AND {at} >= %s AND {at} < %s"
        )
        args: list[Any] = [ids, q["since"], q["until"]]
        if what == "change" and kinds:
            inner += " AND kind = ANY(%s)"
            args.append([k for k in kinds if k not in EVENT_KINDS])
        if sources:
            inner += " AND source = ANY(%s)"
            args.append(sources)
        extra, extra_args = _after_cursor(at, TYPE_RANK[what], cursor)
        inner += f"{extra} ORDER BY {at} DESC, id DESC LIMIT %s"
        parts.append(
            f"(SELECT '{what}' AS type, e.id, e.ts, e.ended_at, e.kind, e.source, e.summary, e.severity, e.status, "
            f"e.service_id, {TYPE_RANK[what]} AS type_rank FROM unnest(%s::bigint[]) AS s(service) "
            f"CROSS JOIN LATERAL ({inner}) AS e ORDER BY e.ts DESC, e.id DESC LIMIT %s)"
        )
        params += [*args, *extra_args, limit + 1, limit + 1]
    if not parts or not ids:
        return None
    query = f"SELECT * FROM ({' UNION ALL '.join(parts)}) AS events ORDER BY ts DESC, type_rank DESC, id DESC LIMIT %s"
    return query, [*params, limit + 1]


def fetch(ids: list[int], q: dict[str, Any]) -> list[dict[str, Any]]:
    built = build_query(ids, q)
    if built is None:
        return []
    with connection.cursor() as cur:
        cur.execute(*built)
        return [dict(zip(COLUMNS, row[:10], strict=True)) for row in cur.fetchall()]


class TimelineView(ApiView):
    @extend_schema(
        operation_id="services_timeline",
        responses={200: outputs.TimelineSerializer, **READ_ERRORS},
        parameters=[
            OpenApiParameter("since", OpenApiTypes.DATETIME, description="default: `until` minus 24 h"),
            OpenApiParameter("until", OpenApiTypes.DATETIME, description="default: now"),
            OpenApiParameter("depth", OpenApiTypes.INT, description="0-3 hops of related services, default 0"),
            OpenApiParameter("kind", OpenApiTypes.STR, description="comma-separated change kinds, 'alert', 'health'"),
            OpenApiParameter("source", OpenApiTypes.STR, description="comma-separated sources"),
            OpenApiParameter("limit", OpenApiTypes.INT, description="1-500, default 100"),
            OpenApiParameter("cursor", OpenApiTypes.STR, description="from `next`"),
        ],
        description="Changes, alerts and health episodes of the service and, with `depth`, of the services related "
        "to it (either direction), newest first, each tagged with its service and hop count.",
    )
    def get(self, request: Request, pk: int) -> Response:
        if not 0 < pk <= MAX_ID:
            raise exceptions.NotFound(f"No service with id {pk}.")
        query = TimelineQuery(data=request.query_params.dict())
        query.is_valid(raise_exception=True)
        q = query.validated_data
        hood = neighbourhood(pk, q["depth"])  # an unknown id has no edges: {pk: (0, [pk])}
        # the service itself comes with its neighbours: one query fewer on the hot path
        services = {s.pk: s for s in Service.objects.select_related("cluster").filter(pk__in=list(hood))}
        service = services.get(pk)
        if service is None:
            raise exceptions.NotFound(f"No service with id {pk}.")
        refs = {sid: {**s.as_ref(), "hops": hood[sid][0]} for sid, s in services.items()}
        entries = fetch(list(services), q)
        next_url = None
        if len(entries) > q["limit"]:
            entries = entries[: q["limit"]]
            last = entries[-1]
            token = encode_cursor(last["timestamp"], TYPE_RANK[last["type"]], last["id"])
            next_url = replace_query_param(request.build_absolute_uri(), "cursor", token)
        for entry in entries:
            entry["service"] = refs[entry.pop("service_id")]
            entry["timestamp"], entry["ended_at"] = iso(entry["timestamp"]), iso(entry["ended_at"])
        # built by hand, not through TimelineSerializer (which documents it): DRF's per-field machinery costs
        # more than the three queries on a full page
        body = {
            "service": service.as_ref(),
            "since": iso(q["since"]),
            "until": iso(q["until"]),
            "depth": q["depth"],
            "services": sorted(refs.values(), key=lambda r: (r["hops"], r["name"])),
            "results": entries,
            "next": next_url,
        }
        return Response(body)


def iso(moment: datetime | None) -> str | None:
    """The API's timestamp format: UTC with ``Z`` (what DRF's DateTimeField renders)."""
    if moment is None:
        return None
    text = moment.astimezone(UTC).isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text
