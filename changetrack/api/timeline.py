"""A service's timeline: changes, alerts and health episodes of the service and its neighbours, newest first.

One query per table, each on its (service_id, time) index with a bounded LIMIT, merged in Python. The cursor is
the position of the last entry (time, type, id), so the next page continues exactly where this one stopped.
"""

from __future__ import annotations

import base64
import binascii
from datetime import datetime, timedelta
from datetime import timezone as dt_timezone
from typing import Any

from django.db.models import Q
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import exceptions
from rest_framework import serializers as drf
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.utils.urls import replace_query_param

from changetrack.api import outputs
from changetrack.api.base import READ_ERRORS, ApiView, get_or_404
from changetrack.api.fields import OffsetDateTimeField
from changetrack.correlation.engine import neighbourhood
from changetrack.models import Alert, Change, ChangeKind, HealthEpisode, Service

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


def _after_cursor(field: str, rank: int, cursor: tuple[datetime, int, int] | None) -> Q:
    """Rows strictly after the cursor in (time desc, type rank desc, id desc) order."""
    if cursor is None:
        return Q()
    at, crank, cid = cursor
    if rank < crank:
        return Q(**{f"{field}__lte": at})
    if rank > crank:
        return Q(**{f"{field}__lt": at})
    return Q(**{f"{field}__lt": at}) | Q(**{field: at, "id__lt": cid})


def _wanted(kinds: list[str] | None, what: str) -> bool:
    if not kinds:
        return True
    if what == "change":
        return any(k in ChangeKind.values for k in kinds)
    return what in kinds


def fetch(ids: list[int], q: dict[str, Any]) -> list[dict[str, Any]]:
    """Up to ``limit + 1`` entries across the three tables, merged newest first."""
    kinds, sources, limit, cursor = q.get("kind"), q.get("source"), q["limit"], q.get("cursor")
    since, until = q["since"], q["until"]
    entries: list[dict[str, Any]] = []
    if _wanted(kinds, "change"):
        qs = Change.objects.filter(service_id__in=ids, occurred_at__gte=since, occurred_at__lt=until)
        if kinds:
            qs = qs.filter(kind__in=[k for k in kinds if k not in EVENT_KINDS])
        if sources:
            qs = qs.filter(source__in=sources)
        qs = qs.filter(_after_cursor("occurred_at", TYPE_RANK["change"], cursor)).order_by("-occurred_at", "-id")
        for row in qs.values("id", "occurred_at", "ended_at", "kind", "source", "summary", "severity", "status", "service_id")[: limit + 1]:
            entries.append({"type": "change", **row, "timestamp": row.pop("occurred_at")})
    if _wanted(kinds, "alert"):
        qs = Alert.objects.filter(service_id__in=ids, started_at__gte=since, started_at__lt=until)
        if sources:
            qs = qs.filter(source__in=sources)
        qs = qs.filter(_after_cursor("started_at", TYPE_RANK["alert"], cursor)).order_by("-started_at", "-id")
        for row in qs.values("id", "started_at", "resolved_at", "source", "title", "severity", "status", "service_id")[: limit + 1]:
            entries.append({"type": "alert", "kind": "alert", "id": row["id"], "timestamp": row["started_at"],
                            "ended_at": row["resolved_at"], "source": row["source"], "summary": row["title"],
                            "severity": row["severity"], "status": row["status"], "service_id": row["service_id"]})
    if _wanted(kinds, "health"):
        qs = HealthEpisode.objects.filter(service_id__in=ids, started_at__gte=since, started_at__lt=until)
        if sources:
            qs = qs.filter(source__in=sources)
        qs = qs.filter(_after_cursor("started_at", TYPE_RANK["health"], cursor)).order_by("-started_at", "-id")
        for row in qs.values("id", "started_at", "ended_at", "source", "summary", "severity", "service_id")[: limit + 1]:
            entries.append({"type": "health", "kind": "health", "id": row["id"], "timestamp": row["started_at"],
                            "ended_at": row["ended_at"], "source": row["source"], "summary": row["summary"],
                            "severity": row["severity"], "status": "open" if row["ended_at"] is None else "ended",
                            "service_id": row["service_id"]})
    entries.sort(key=lambda e: (e["timestamp"], TYPE_RANK[e["type"]], e["id"]), reverse=True)
    return entries[: limit + 1]


class TimelineView(ApiView):
    @extend_schema(
        operation_id="services_timeline", responses={200: outputs.TimelineSerializer, **READ_ERRORS},
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
        service = get_or_404(Service.objects.select_related("cluster"), pk, "service")
        query = TimelineQuery(data=request.query_params.dict())
        query.is_valid(raise_exception=True)
        q = query.validated_data
        hood = neighbourhood(service.pk, q["depth"])
        services = {s.pk: s for s in Service.objects.select_related("cluster").filter(pk__in=list(hood))}
        refs = {pk: {**s.as_ref(), "hops": hood[pk][0]} for pk, s in services.items()}
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
        body = {"service": service.as_ref(), "since": iso(q["since"]), "until": iso(q["until"]), "depth": q["depth"],
                "services": sorted(refs.values(), key=lambda r: (r["hops"], r["name"])), "results": entries,
                "next": next_url}
        return Response(body)


def iso(moment: datetime | None) -> str | None:
    """The API's timestamp format: UTC with ``Z`` (what DRF's DateTimeField renders)."""
    if moment is None:
        return None
    text = moment.astimezone(dt_timezone.utc).isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text
