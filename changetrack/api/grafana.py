"""``GET /api/v1/grafana/annotations``: changes in a window as the rows Grafana's Infinity data source reads for an
annotation query (``time``, ``timeEnd``, ``title``, ``text``, ``tags``; times in epoch milliseconds), so a
dashboard shows changes without changetrack holding any Grafana credential. The rows carry the same tags and
text as the annotations a ``grafana-annotations`` connection pushes (``changetrack.notify.markers``)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from django.db.models import Q, QuerySet
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers as drf
from rest_framework.request import Request
from rest_framework.response import Response

from changetrack.api.base import READ_ERRORS, ApiView
from changetrack.models import Change, ChangeKind, Service
from changetrack.notify import markers
from integrations.base import ServiceHint
from integrations.grafana import annotating

#: a dashboard's range longer than this is refused (retention keeps 90 days by default)
MAX_WINDOW = timedelta(days=93)
MAX_LIMIT = 5000
#: how far before ``from`` a ranged change (a rollout) may have started and still end inside the window
LONGEST_CHANGE = timedelta(days=1)
#: tags a query may filter on, and the change column each one reads
TAG_FIELDS = {
    "service": "service__name",
    "kind": "kind",
    "cluster": "service__cluster__name",
    "namespace": "service__namespace",
    "team": "service__team",
    "source": "source",
}


def _epoch_ms(value: int) -> datetime:
    try:
        return datetime.fromtimestamp(value / 1000, UTC)
    except (OverflowError, OSError, ValueError):
        raise drf.ValidationError("out of range") from None


def _listed(value: str) -> list[str]:
    return [item.strip() for item in value.split(",") if item.strip()]


class AnnotationQuery(drf.Serializer):
    # ``from`` is a Python keyword: the field is declared below under its wire name
    to = drf.IntegerField(min_value=0, max_value=7_258_118_400_000, help_text="epoch ms, exclusive")
    service = drf.CharField(required=False, max_length=300)
    team = drf.CharField(required=False, max_length=100)
    kind = drf.CharField(required=False, max_length=500)
    source = drf.CharField(required=False, max_length=500)
    tags = drf.CharField(required=False, max_length=1000)
    limit = drf.IntegerField(min_value=1, max_value=MAX_LIMIT, required=False, default=1000)

    def validate_kind(self, value: str) -> list[str]:
        kinds = _listed(value)
        unknown = sorted(set(kinds) - set(ChangeKind.values))
        if unknown:
            raise drf.ValidationError(f"Unknown kind(s): {', '.join(unknown)}.")
        return kinds

    def validate_source(self, value: str) -> list[str]:
        return _listed(value)

    def validate_tags(self, value: str) -> list[tuple[str, str]]:
        """``changetrack,service:checkout,kind:deploy``: every tag must be on a row (``changetrack`` always is)."""
        out = []
        for tag in _listed(value):
            if tag == "changetrack":
                continue
            key, _, wanted = tag.partition(":")
            if key not in TAG_FIELDS or not wanted:
                known = ", ".join(f"{k}:<value>" for k in TAG_FIELDS)
                raise drf.ValidationError(f"Unknown tag {tag[:60]!r}; use changetrack, {known}.")
            out.append((key, wanted))
        return out

    def validate_service(self, value: str) -> list[Service]:
        """A service id, or a path (name, namespace/name, cluster/namespace/name) naming one or more services."""
        if value.strip().isdigit():
            found = list(Service.objects.filter(pk=int(value)) if int(value) < 2**63 else [])
        else:
            try:
                hint = ServiceHint.from_path(value)
            except ValueError as exc:
                raise drf.ValidationError(str(exc)) from None
            qs = Service.objects.filter(name=hint.name)
            qs = qs.filter(namespace=hint.namespace) if hint.namespace else qs
            found = list(qs.filter(cluster__name=hint.cluster) if hint.cluster else qs)
        if not found:
            raise drf.ValidationError(f"No service {value.strip()[:100]!r}.")
        return found

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        raw = self.initial_data.get("from")
        if raw is None or not str(raw).isdigit() or int(raw) > 7_258_118_400_000:
            raise drf.ValidationError({"from": ["Required: the window's start in epoch milliseconds."]})
        start, end = _epoch_ms(int(raw)), _epoch_ms(attrs["to"])
        if start >= end:
            raise drf.ValidationError({"from": ["`from` must be before `to`."]})
        if end - start > MAX_WINDOW:
            raise drf.ValidationError({"from": [f"The window is at most {MAX_WINDOW.days} days."]})
        attrs["start"], attrs["end"] = start, end
        return attrs


def changes(q: dict[str, Any]) -> QuerySet[Change]:
    """The changes shown in [start, end): those that started in it, and ranged ones that started earlier (up to
    ``LONGEST_CHANGE``) and ended in it; newest first, at most ``limit``."""
    start, end = q["start"], q["end"]
    qs = Change.objects.select_related("service", "service__cluster").filter(
        Q(occurred_at__gte=start) | Q(ended_at__gte=start), occurred_at__gte=start - LONGEST_CHANGE, occurred_at__lt=end
    )
    if "service" in q:
        qs = qs.filter(service__in=q["service"])
    if q.get("team"):
        qs = qs.filter(service__team=q["team"])
    if q.get("kind"):
        qs = qs.filter(kind__in=q["kind"])
    if q.get("source"):
        qs = qs.filter(source__in=q["source"])
    for key, wanted in q.get("tags", ()):
        qs = qs.filter(**{TAG_FIELDS[key]: wanted})
    return qs.order_by("-occurred_at", "-id")[: q["limit"]]


class AnnotationRow(drf.Serializer):
    time = drf.IntegerField(help_text="epoch ms: when the change started")
    timeEnd = drf.IntegerField(help_text="epoch ms: when it ended (= time for a point in time)")  # noqa: N815
    title = drf.CharField()
    text = drf.CharField(help_text="the summary and a link to the change's page (HTML)")
    tags = drf.ListField(child=drf.CharField())
    id = drf.IntegerField(help_text="the change's id")
    url = drf.CharField(help_text="the change's page")


def row(change: Change) -> dict[str, Any]:
    notice = markers.notice(change)
    start, end = annotating.epoch_ms(notice)
    title = f"{notice.kind} · {notice.service}" if notice.service else notice.kind
    return {
        "time": start,
        "timeEnd": end,
        "title": title,
        "text": annotating.text(notice),
        "tags": notice.tags(),
        "id": change.pk,
        "url": notice.url,
    }


class GrafanaAnnotationsView(ApiView):
    @extend_schema(
        operation_id="grafana_annotations",
        responses={200: AnnotationRow(many=True), **READ_ERRORS},
        description=(
            "Changes in a window as a JSON array for a Grafana annotation query through the Infinity data source "
            "(columns `time`, `timeEnd`, `title`, `text`, `tags`; times in epoch ms). Newest first; a ranged change "
            "(a rollout) that ended in the window is included. Without a `service`, every change."
        ),
        parameters=[
            OpenApiParameter("from", OpenApiTypes.INT, required=True, description="the window's start, epoch ms"),
            OpenApiParameter("to", OpenApiTypes.INT, required=True, description="its end, epoch ms; at most 93 days"),
            *(
                OpenApiParameter(name, kind, description=text)
                for name, kind, text in (
                    ("service", OpenApiTypes.STR, "a service id, or name, namespace/name or cluster/namespace/name"),
                    ("team", OpenApiTypes.STR, "the services' team"),
                    ("kind", OpenApiTypes.STR, "comma-separated change kinds"),
                    ("source", OpenApiTypes.STR, "comma-separated sources"),
                    ("tags", OpenApiTypes.STR, "comma-separated tags every row carries, e.g. service:checkout"),
                    ("limit", OpenApiTypes.INT, f"1-{MAX_LIMIT}, default 1000"),
                )
            ),
        ],
    )
    def get(self, request: Request) -> Response:
        query = AnnotationQuery(data=request.query_params.dict())
        query.is_valid(raise_exception=True)
        return Response([row(c) for c in changes(query.validated_data)])
