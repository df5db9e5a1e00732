"""``GET /api/v1/metrics/delivery``: the four delivery keys (deploy frequency, lead time, change failure rate,
time to restore) over a period, in total, per team and per service: the same figures as the Delivery page."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from rest_framework import serializers as drf
from rest_framework.request import Request
from rest_framework.response import Response

from changetrack.api.base import MAX_ID, ApiView, read_schema
from changetrack.api.fields import OffsetDateTimeField
from changetrack.api.outputs import ServiceRefSerializer
from changetrack.correlation.metrics import delivery_metrics

MAX_DAYS = 366


class MetricsQuery(drf.Serializer):
    since = OffsetDateTimeField(required=False)
    until = OffsetDateTimeField(required=False)
    team = drf.CharField(required=False, max_length=200)
    service = drf.IntegerField(required=False, min_value=1, max_value=MAX_ID)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        attrs.setdefault("until", timezone.now())
        attrs.setdefault("since", attrs["until"] - timedelta(days=30))
        if attrs["since"] >= attrs["until"]:
            raise drf.ValidationError({"since": ["`since` must be before `until`."]})
        if attrs["until"] - attrs["since"] > timedelta(days=MAX_DAYS):
            raise drf.ValidationError({"since": [f"The period may span at most {MAX_DAYS} days."]})
        return attrs


class Summary(drf.Serializer):
    deploys = drf.IntegerField()
    deploy_frequency_per_day = drf.FloatField(allow_null=True)
    lead_time_minutes_median = drf.FloatField(allow_null=True)
    lead_time_samples = drf.IntegerField()
    failed_deploys = drf.IntegerField()
    change_failure_rate = drf.FloatField(allow_null=True)
    time_to_restore_minutes_median = drf.FloatField(allow_null=True)
    restored_alerts = drf.IntegerField()


class ServiceRow(Summary):
    service = ServiceRefSerializer()
    team = drf.CharField()


class TeamRow(Summary):
    team = drf.CharField()


class Day(drf.Serializer):
    day = drf.DateField()
    deploys = drf.IntegerField()
    failed = drf.IntegerField()


class DeliveryMetrics(drf.Serializer):
    since = drf.DateTimeField()
    until = drf.DateTimeField()
    total = Summary()
    daily = Day(many=True)
    teams = TeamRow(many=True)
    services = ServiceRow(many=True)


class DeliveryMetricsView(ApiView):
    @read_schema(
        "metrics_delivery",
        DeliveryMetrics,
        "Deploy frequency, lead time (first commit → deploy of the same release), change failure rate "
        "(deploys confirmed as, or ranked first as, an alert's cause and not dismissed) and time to restore (alert "
        "triggered → resolved), in total, per team and per service, with deploys per UTC day.",
        since=(OpenApiTypes.DATETIME, "default: `until` minus 30 days"),
        until=(OpenApiTypes.DATETIME, "default: now"),
        team=(OpenApiTypes.STR, "only this team's services"),
        service=(OpenApiTypes.INT, "only this service (id)"),
    )
    def get(self, request: Request) -> Response:
        query = MetricsQuery(data=request.query_params.dict())
        query.is_valid(raise_exception=True)
        q = query.validated_data
        result = delivery_metrics(
            q["since"],
            q["until"],
            service_ids=[q["service"]] if "service" in q else None,
            team=q.get("team") or None,
        )
        return Response(result)
