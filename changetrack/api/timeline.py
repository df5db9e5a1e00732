"""``GET /api/v1/services/{id}/timeline``: the service's neighbourhood, the shared timeline query
(:mod:`changetrack.timeline`) over it, and the answer with a ``next`` URL carrying the query's cursor."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from rest_framework import exceptions
from rest_framework import serializers as drf
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.utils.urls import replace_query_param

from changetrack import timeline
from changetrack.api import outputs
from changetrack.api.base import MAX_ID, ApiView, read_schema
from changetrack.api.fields import OffsetDateTimeField
from changetrack.correlation.engine import neighbourhood
from changetrack.infra.urls import absolute_url_of
from changetrack.models import Service


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
        unknown = timeline.unknown_kinds(kinds)
        if unknown:
            raise drf.ValidationError(f"Unknown kind(s): {', '.join(unknown)}; use change kinds, 'alert' or 'health'.")
        return kinds

    def validate_source(self, value: str) -> list[str]:
        return [s.strip() for s in value.split(",") if s.strip()]

    def validate_cursor(self, value: str) -> timeline.Cursor:
        try:
            return timeline.Cursor.decode(value)
        except timeline.InvalidCursor:
            raise drf.ValidationError("Invalid cursor; use the `next` URL as given.") from None

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        attrs.setdefault("until", timezone.now())
        attrs.setdefault("since", attrs["until"] - timedelta(hours=24))
        if attrs["since"] >= attrs["until"]:
            raise drf.ValidationError({"since": ["`since` must be before `until`."]})
        return attrs

    def filters(self) -> timeline.Filters:
        q = self.validated_data
        return timeline.Filters(q["since"], q["until"], tuple(q.get("kind", ())), tuple(q.get("source", ())))


class TimelineView(ApiView):
    @read_schema(
        "services_timeline",
        outputs.TimelineSerializer,
        "Changes, alerts and health episodes of the service and, with `depth`, of the services related "
        "to it (either direction), newest first, each tagged with its service and hop count.",
        since=(OpenApiTypes.DATETIME, "default: `until` minus 24 h"),
        until=(OpenApiTypes.DATETIME, "default: now"),
        depth=(OpenApiTypes.INT, "0-3 hops of related services, default 0"),
        kind=(OpenApiTypes.STR, "comma-separated change kinds, 'alert', 'health'"),
        source=(OpenApiTypes.STR, "comma-separated sources"),
        limit=(OpenApiTypes.INT, "1-500, default 100"),
        cursor=(OpenApiTypes.STR, "from `next`"),
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
        entries, more = timeline.page(list(services), query.filters(), q["limit"], q.get("cursor"))
        next_url = None
        if more is not None:
            next_url = replace_query_param(absolute_url_of(request), "cursor", more.encode())
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
