"""Read endpoints: services (with health), changes, alerts, suspects."""

from __future__ import annotations

import inspect
from typing import Any

from django.db import connection
from django.db.models import Count
from django.utils import timezone
from django_filters import FilterSet
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins
from rest_framework import serializers as drf
from rest_framework.pagination import BasePagination
from rest_framework.request import Request
from rest_framework.response import Response

from changetrack.api import outputs
from changetrack.api.base import READ_ERRORS, ApiView, get_or_404, read_schema
from changetrack.api.fields import OffsetDateTimeField
from changetrack.api.filters import AlertFilter, ChangeFilter, ServiceFilter
from changetrack.api.pagination import AlertCursor, Cursor, ServiceCursor
from changetrack.correlation import engine
from changetrack.models import Alert, Change, Dependency, HealthEpisode, Service

_LAST_CHANGES = """
SELECT s.id, c.id, c.external_id, c.source, c.kind, c.summary, c.occurred_at
FROM unnest(%s::bigint[]) AS s(id)
CROSS JOIN LATERAL (
    SELECT id, external_id, source, kind, summary, occurred_at FROM changetrack_change
    WHERE service_id = s.id ORDER BY occurred_at DESC, id DESC LIMIT 1
) AS c
"""


def service_rows(services: list[Service]) -> list[dict[str, Any]]:
    """Services with health and last change: three queries for the whole page, whatever its size."""
    ids = [s.pk for s in services]
    open_alerts = dict(
        Alert.objects.filter(service_id__in=ids)
        .exclude(status=Alert.Status.RESOLVED)
        .order_by()
        .values_list("service_id")
        .annotate(n=Count("id"))
    )
    episodes = dict(
        HealthEpisode.objects.filter(service_id__in=ids, ended_at__isnull=True)
        .order_by()
        .values_list("service_id")
        .annotate(n=Count("id"))
    )
    last: dict[int, dict[str, Any]] = {}
    if ids:
        with connection.cursor() as cur:
            cur.execute(_LAST_CHANGES, [ids])
            for sid, *row in cur.fetchall():
                last[sid] = dict(
                    zip(("id", "external_id", "source", "kind", "summary", "occurred_at"), row, strict=True)
                )
    rows = []
    for s in services:
        alerts, active = open_alerts.get(s.pk, 0), episodes.get(s.pk, 0)
        rows.append(
            {
                **s.as_ref(),
                "team": s.team,
                "owner": s.owner,
                "repository": s.repository,
                "workload_kind": s.workload_kind,
                "labels": s.labels,
                "last_change": last.get(s.pk),
                "health": {
                    "status": "alerting" if alerts else ("degraded" if active else "ok"),
                    "open_alerts": alerts,
                    "active_health_episodes": active,
                },
            }
        )
    return rows


class FilteredListView(mixins.ListModelMixin, ApiView):
    """GET: the filtered queryset, one cursor page, as ``serializer_class`` rows (made by ``rows``).

    A subclass names its ``filterset``, ``pagination`` and ``serializer`` in its class line; the rows are its
    filterset's model with ``related`` joined, and its docstring documents the operation."""

    def __init_subclass__(
        cls,
        filterset: type[FilterSet] | None = None,
        pagination: type[BasePagination] | None = None,
        serializer: type[drf.Serializer] | None = None,
        related: str = "service__cluster",
        **kwargs: Any,
    ) -> None:
        super().__init_subclass__(**kwargs)
        if filterset is None or serializer is None:  # the views that only combine a list with a create
            return
        model = filterset._meta.model
        cls.filterset_class, cls.pagination_class, cls.serializer_class = filterset, pagination, serializer
        cls.queryset = model.objects.select_related(related)
        extend_schema_view(
            get=extend_schema(
                operation_id=f"{model._meta.model_name}s_list",
                responses={200: serializer(many=True), **READ_ERRORS},
                description=inspect.getdoc(cls),
            )
        )(cls)

    def rows(self, page: list[Any]) -> Any:
        return page

    def get(self, request: Request) -> Response:
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset())) or []
        return self.get_paginated_response(self.get_serializer_class()(self.rows(page), many=True).data)


class ServiceListView(
    FilteredListView,
    filterset=ServiceFilter,
    pagination=ServiceCursor,
    serializer=outputs.ServiceSerializer,
    related="cluster",
):
    """Services with their health (open alerts, active health episodes) and last change."""

    def rows(self, page: list[Any]) -> Any:
        return service_rows(page)


class ChangeListView(FilteredListView, filterset=ChangeFilter, pagination=Cursor, serializer=outputs.ChangeSerializer):
    """Changes, newest first, with cursor pagination."""


class AlertListView(
    FilteredListView, filterset=AlertFilter, pagination=AlertCursor, serializer=outputs.AlertSerializer
):
    """Alerts, newest first, with cursor pagination."""


def _edges(service: Service) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    def row(edge: Dependency, other: Service) -> dict[str, Any]:
        return {
            "id": edge.pk,
            "service": other.as_ref(),
            "provenance": edge.provenance,
            "evidence": edge.evidence,
            "confidence": edge.confidence,
            "calls": edge.calls,
            "errors": edge.errors,
            "connection_type": edge.connection_type,
            "first_seen_at": edge.first_seen_at,
            "last_seen_at": edge.last_seen_at,
        }

    out = [
        row(e, e.depends_on)
        for e in Dependency.objects.filter(service=service)
        .select_related("depends_on__cluster")
        .order_by("depends_on__name", "id")
    ]
    back = [
        row(e, e.service)
        for e in Dependency.objects.filter(depends_on=service)
        .select_related("service__cluster")
        .order_by("service__name", "id")
    ]
    return out, back


class ServiceDetailView(ApiView):
    @extend_schema(
        operation_id="services_retrieve",
        responses={200: outputs.ServiceDetailSerializer, **READ_ERRORS},
        description="A service with its dependencies and dependents, and where each edge came from.",
    )
    def get(self, request: Request, pk: int) -> Response:
        service = get_or_404(Service.objects.select_related("cluster"), pk, "service")
        dependencies, dependents = _edges(service)
        body = {**service_rows([service])[0], "dependencies": dependencies, "dependents": dependents}
        return Response(outputs.ServiceDetailSerializer(body).data)


class ChangeDetailView(ApiView):
    @extend_schema(
        operation_id="changes_retrieve",
        responses={200: outputs.ChangeDetailSerializer, **READ_ERRORS},
        description="A change with its diff, links and the changes of the same release from other sources.",
    )
    def get(self, request: Request, pk: int) -> Response:
        change = get_or_404(Change.objects.select_related("service__cluster"), pk, "change")
        related = change.same_release().select_related("service__cluster").order_by("-occurred_at", "-id")[:50]
        data = outputs.ChangeSerializer(change).data
        data["related"] = outputs.ChangeSummarySerializer(related, many=True).data
        return Response(data)


class AlertDetailView(ApiView):
    @extend_schema(operation_id="alerts_retrieve", responses={200: outputs.AlertSerializer, **READ_ERRORS})
    def get(self, request: Request, pk: int) -> Response:
        alert = get_or_404(Alert.objects.select_related("service__cluster"), pk, "alert")
        return Response(outputs.AlertSerializer(alert).data)


class SuspectQuery(drf.Serializer):
    limit = drf.IntegerField(min_value=1, max_value=100, required=False, default=10)


class SuspectsView(ApiView):
    @read_schema(
        "alerts_suspects",
        outputs.SuspectsSerializer,
        "The ranked suspect changes for the alert, reflecting every change stored when asked.",
        limit=(OpenApiTypes.INT, "1-100, default 10"),
    )
    def get(self, request: Request, pk: int) -> Response:
        alert = get_or_404(Alert.objects.select_related("service__cluster"), pk, "alert")
        query = SuspectQuery(data=request.query_params.dict())
        query.is_valid(raise_exception=True)
        suspects = engine.current_suspects(alert, query.validated_data["limit"])
        rows = _suspect_rows(
            [(s.rank, s.score, s.change_id, s.hops, s.relation, s.path, s.components, s.reasons) for s in suspects]
        )
        abstain = engine.no_change_stands_out(suspects[0].score if suspects else None)
        body = {"alert": alert, "suspects": rows, "no_change_stands_out": abstain}
        return Response(outputs.SuspectsSerializer(body).data)


class ServiceSuspectQuery(SuspectQuery):
    at = OffsetDateTimeField(required=False)


class ServiceSuspectsView(ApiView):
    @read_schema(
        "services_suspects",
        outputs.ServiceSuspectsSerializer,
        "What changed for this service and the services around it before `at`, ranked as the "
        "suspects of an alert on it at that moment would be (same windows, graph, risk and feedback; nothing "
        'is stored; the time reasons count from `at`, or read "ago" without it). For scripts and agents asking '
        '"what changed here, most likely to matter first?" '
        "without an alert.",
        at=(OpenApiTypes.DATETIME, "RFC 3339 with an offset; default now"),
        limit=(OpenApiTypes.INT, "1-100, default 10"),
    )
    def get(self, request: Request, pk: int) -> Response:
        service = get_or_404(Service.objects.select_related("cluster"), pk, "service")
        query = ServiceSuspectQuery(data=request.query_params.dict())
        query.is_valid(raise_exception=True)
        asked = query.validated_data.get("at")
        at = asked or timezone.now()
        moment = f"{asked:%Y-%m-%d %H:%M:%S} UTC" if asked else None  # without ``at``: "7 min ago"
        ranked = engine.rank_at(service, at, query.validated_data["limit"], moment)
        rows = _suspect_rows(
            [
                (i, r.score, r.change.id, r.hops, r.direction, r.path, r.components, r.reasons)
                for i, r in enumerate(ranked, 1)
            ]
        )
        return Response(outputs.ServiceSuspectsSerializer({"service": service, "at": at, "suspects": rows}).data)


def _suspect_rows(
    ranked: list[tuple[int, float, int, int, str, list[str], dict[str, float], list[str]]],
) -> list[dict[str, Any]]:
    """The API's suspect entries, each with its change read in one query; a change dropped by retention since
    it was ranked is no longer a suspect."""
    changes = Change.objects.select_related("service__cluster").in_bulk([change_id for _, _, change_id, *_ in ranked])
    return [
        {
            "rank": rank,
            "score": min(max(score, 0.0), 1.0),
            "change": changes[change_id],
            "hops": hops,
            "relation": relation or None,
            "path": path,
            "components": components,
            "reasons": reasons,
        }
        for rank, score, change_id, hops, relation, path, components, reasons in ranked
        if change_id in changes
    ]
