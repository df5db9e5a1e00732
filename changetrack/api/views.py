"""Write endpoints: POST changes, alerts, dependencies (one object or an array of up to 1,000) and feedback."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiExample, PolymorphicProxySerializer, extend_schema
from rest_framework import exceptions, status
from rest_framework.request import Request
from rest_framework.response import Response

from changetrack.api import outputs, serializers, writes
from changetrack.api.base import WRITE_ERRORS, ApiView, get_or_404
from changetrack.correlation import feedback
from changetrack.gcpause import gc_paused
from changetrack.models import Alert, Change, Dependency


def _body(name: str, item: type) -> PolymorphicProxySerializer:
    return PolymorphicProxySerializer(
        component_name=name, serializers=[item, item(many=True)], resource_type_field_name=None, many=False
    )


def _answer(created: int, single: Any) -> dict[Any, Any]:
    return {created: single, 200: single, **WRITE_ERRORS}


def _results(ids: list[tuple[int, bool]], external_ids: list[str] | None) -> Response:
    rows = []
    for i, (pk, created) in enumerate(ids):
        row: dict[str, Any] = {"id": pk, "created": created}
        if external_ids is not None:
            row["external_id"] = external_ids[i]
        rows.append(row)
    return Response({"results": rows}, status=status.HTTP_201_CREATED)


ARRAY_OR_SINGLE = "one object, or an array of up to 1,000 stored in one transaction (201 with `results` in input order)"


def _accept(
    request: Request, serializer: Any, refs: tuple[str, ...] = ("service",), **store_kw: Any
) -> tuple[list[Any], Any, bool]:
    """The shared write path: one object or an array, validated whole, turned into records, stored in one
    transaction. ``refs`` names the record fields that reference services (for the error index)."""
    with gc_paused():  # up to 1,000 items' worth of objects live until the answer: see gc_paused
        items, is_array = writes.split_body(request.data)
        valid = writes.validate_items(serializer, items, is_array)
        records = [serializer.to_record(d) for d in valid]
        hints = [[(name, getattr(r, name)) for name in refs] for r in records]
        return records, writes.store(records, hints, is_array, **store_kw), is_array


class ChangeCreateView(ApiView):
    @extend_schema(
        operation_id="changes_create",
        request=_body("ChangeInput", serializers.ChangeInSerializer),
        responses={
            201: PolymorphicProxySerializer(
                component_name="ChangeCreated",
                serializers=[outputs.ChangeSerializer, serializers.StoredItemsSerializer],
                resource_type_field_name=None,
            ),
            200: outputs.ChangeSerializer,
            **WRITE_ERRORS,
        },
        description=f"Record custom changes: {ARRAY_OR_SINGLE}. The same `external_id` again answers 200 with the existing change.",
        examples=[
            OpenApiExample(
                "deploy",
                request_only=True,
                value={
                    "service": {"name": "checkout", "namespace": "shop", "cluster": "prod-us"},
                    "kind": "deploy",
                    "summary": "Deploy checkout 2.14.0",
                    "timestamp": "2026-11-21T10:04:00Z",
                    "external_id": "release-2.14.0-prod-us",
                },
            )
        ],
    )
    def post(self, request: Request) -> Response:
        records, result, is_array = _accept(request, serializers.ChangeInSerializer)
        if is_array:
            return _results(result.changes, [r.external_id for r in records])
        pk, created = result.changes[0]
        change = Change.objects.select_related("service__cluster").get(pk=pk)
        return Response(outputs.ChangeSerializer(change).data, status=201 if created else 200)


class AlertCreateView(ApiView):
    @extend_schema(
        operation_id="alerts_create",
        request=_body("AlertInput", serializers.AlertInSerializer),
        responses={
            201: PolymorphicProxySerializer(
                component_name="AlertCreated",
                serializers=[outputs.AlertSerializer, serializers.StoredItemsSerializer],
                resource_type_field_name=None,
            ),
            200: outputs.AlertSerializer,
            **WRITE_ERRORS,
        },
        description=f"Record alerts from any monitoring tool: {ARRAY_OR_SINGLE}. The same `external_id` with "
        "`status: resolved` closes the open alert and answers 200.",
    )
    def post(self, request: Request) -> Response:
        records, result, is_array = _accept(request, serializers.AlertInSerializer)
        if is_array:
            return _results(result.alerts, [r.external_id for r in records])
        pk, created = result.alerts[0]
        alert = Alert.objects.select_related("service__cluster").get(pk=pk)
        return Response(outputs.AlertSerializer(alert).data, status=201 if created else 200)


class DependencyCreateView(ApiView):
    @extend_schema(
        operation_id="dependencies_create",
        request=_body("DependencyInput", serializers.DependencyInSerializer),
        responses={
            201: PolymorphicProxySerializer(
                component_name="DependencyCreated",
                serializers=[outputs.DependencyEdgeSerializer, serializers.StoredItemsSerializer],
                resource_type_field_name=None,
            ),
            200: outputs.DependencyEdgeSerializer,
            **WRITE_ERRORS,
        },
        description=f"Declare that `service` depends on (calls, consumes from) `depends_on`: {ARRAY_OR_SINGLE}. "
        "Declaring an existing edge again answers 200.",
    )
    def post(self, request: Request) -> Response:
        _, result, is_array = _accept(
            request, serializers.DependencyInSerializer, refs=("service", "depends_on"), source=""
        )
        if is_array:
            return _results(result.dependencies, None)
        pk, created = result.dependencies[0]
        edge = Dependency.objects.select_related("service__cluster", "depends_on__cluster").get(pk=pk)
        return Response(edge_data(edge), status=201 if created else 200)


def edge_data(edge: Dependency) -> dict[str, Any]:
    return outputs.DependencyEdgeSerializer(
        {
            "id": edge.pk,
            "service": edge.service.as_ref(),
            "depends_on": edge.depends_on.as_ref(),
            "provenance": edge.provenance,
            "evidence": edge.evidence,
            "confidence": edge.confidence,
            "first_seen_at": edge.first_seen_at,
            "last_seen_at": edge.last_seen_at,
        }
    ).data


class FeedbackView(ApiView):
    @extend_schema(
        operation_id="alerts_feedback",
        request=serializers.FeedbackInSerializer,
        responses={201: outputs.FeedbackSerializer, 200: outputs.FeedbackSerializer, **WRITE_ERRORS},
        description="A responder's verdict on a suspect change: `caused` or `unrelated` (a second verdict replaces the first).",
    )
    def post(self, request: Request, pk: int) -> Response:
        alert = get_or_404(Alert.objects.all(), pk, "alert")
        data = request.data
        if not isinstance(data, dict):
            raise exceptions.ValidationError({"body": ["The body must be a JSON object."]})
        serializer = serializers.FeedbackInSerializer(data=data)
        serializer.is_valid(raise_exception=True)
        change_id = serializer.validated_data["change_id"]
        if not Change.objects.filter(pk=change_id).exists():
            raise exceptions.ValidationError({"change_id": [f"No change with id {change_id}."]})
        author = serializer.validated_data.get("author") or str(request.user)
        fb, created = feedback.record(alert, change_id, serializer.validated_data["verdict"], author)
        body = outputs.FeedbackSerializer(
            {
                "id": fb.pk,
                "alert_id": alert.pk,
                "change_id": fb.change_id,
                "verdict": fb.verdict,
                "author": fb.author,
                "created_at": fb.created_at,
            }
        ).data
        return Response(body, status=201 if created else 200)
