"""Write endpoints: POST changes, alerts, dependencies (one object or an array of up to 1,000) and feedback."""

from __future__ import annotations

import inspect
from typing import Any

from django.db.models import QuerySet
from drf_spectacular.utils import OpenApiExample, PolymorphicProxySerializer, extend_schema, extend_schema_view
from rest_framework import exceptions, status
from rest_framework import serializers as drf
from rest_framework.request import Request
from rest_framework.response import Response

from changetrack.api import outputs, serializers, writes
from changetrack.api.base import WRITE_ERRORS, ApiView, get_or_404, problem_responses
from changetrack.correlation import engine, feedback
from changetrack.gcpause import gc_paused
from changetrack.models import Alert, Change, Dependency
from integrations.base import DependencyRecord


def _results(ids: list[tuple[int, bool]], external_ids: list[str] | None, updated: set[int] | None) -> Response:
    """``updated``: the changes a re-post updated (None where re-posts do not update: alerts, edges)."""
    rows = []
    for i, (pk, created) in enumerate(ids):
        row: dict[str, Any] = {"id": pk, "created": created}
        if updated is not None:
            row["updated"] = pk in updated
        if external_ids is not None:
            row["external_id"] = external_ids[i]
        rows.append(row)
    return Response({"results": rows}, status=status.HTTP_201_CREATED)


ARRAY_OR_SINGLE = "one object, or an array of up to 1,000 stored in one transaction (201 with `results` in input order)"


class BulkCreateView(ApiView):
    """POST one object or an array: validated whole, turned into records by ``input_serializer``, every service
    reference resolved, stored by one ``store_records`` call in one transaction. An array answers 201 with
    ``results`` in input order; one object answers with its stored row as ``output``, 201 (or 200 when it was
    there already). A subclass names its parts and is documented from them: its docstring (what it does, then
    what a repeat does), ``<Name>Input`` in and ``<Name>Created`` out after its input serializer's name, operation
    ``<stored>_create``."""

    input_serializer: type[serializers.RecordInSerializer]
    output: type[drf.Serializer]
    answer_queryset: QuerySet[Any]
    stored: str  # the ``StoreResult`` field holding (id, created) per record, in input order
    examples: tuple[OpenApiExample, ...] = ()
    refs: tuple[str, ...] = ("service",)  # the record fields that name services (for the error index)
    source = serializers.API_SOURCE  # which source's services a reference may resolve to or create

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "input_serializer" in cls.__dict__:  # not for the views that only combine this one with a list
            extend_schema_view(post=_create_schema(cls))(cls)

    def answer(self, pk: int) -> Any:
        return self.output(self.answer_queryset.get(pk=pk)).data

    def post(self, request: Request) -> Response:
        with gc_paused():  # up to 1,000 items' worth of objects live until the answer: see gc_paused
            items, is_array = writes.split_body(request.data)
            valid = writes.validate_items(self.input_serializer, items, is_array)
            records = [self.input_serializer.to_record(d) for d in valid]
            hints = [[(name, getattr(r, name)) for name in self.refs] for r in records]
            result, updated = writes.store(records, hints, is_array, source=self.source)
            ids = getattr(result, self.stored)
        if is_array:
            keys = [r.external_id for r in records if not isinstance(r, DependencyRecord)]
            # an edge has no external id; only changes are updated by a re-post
            return _results(
                ids, keys if len(keys) == len(records) else None, updated if self.stored == "changes" else None
            )
        pk, created = ids[0]
        if created or self.stored != "changes":
            return Response(self.answer(pk), status=201 if created else 200)
        return Response({**self.answer(pk), "updated": pk in updated}, status=200)


def _create_schema(view: type[BulkCreateView]) -> Any:
    single = view.input_serializer
    name = single.__name__.removesuffix("InSerializer")
    what, _, again = inspect.getdoc(view).partition("\n\n")  # type: ignore[union-attr]
    return extend_schema(
        operation_id=f"{view.stored}_create",
        request=PolymorphicProxySerializer(
            component_name=f"{name}Input",
            serializers=[single, single(many=True)],
            resource_type_field_name=None,
            many=False,
        ),
        responses={
            201: PolymorphicProxySerializer(
                component_name=f"{name}Created",
                serializers=[view.output, serializers.StoredItemsSerializer],
                resource_type_field_name=None,
            ),
            200: view.output,
            **WRITE_ERRORS,
            **(problem_responses(409) if view.stored == "changes" else {}),  # a conflicting re-post
        },
        description=f"{what.rstrip('.')}: {ARRAY_OR_SINGLE}. {' '.join(again.split())}",
        examples=list(view.examples) or None,
    )


class ChangeCreateView(BulkCreateView):
    """Record custom changes.

    The same `external_id` again answers 200 with the change, its mutable fields (summary, severity, details, links,
    actor, a rollout's status and end) updated and `"updated": true` when they differed; a different service, kind
    or timestamp is a 409 naming the fields; the same `external_id` twice in one array is a 400."""

    input_serializer = serializers.ChangeInSerializer
    output = outputs.ChangeSerializer
    answer_queryset = Change.objects.select_related("service__cluster")
    stored = "changes"
    examples = (
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
        ),
    )


class AlertCreateView(BulkCreateView):
    """Record alerts from any monitoring tool.

    The same `external_id` with `status: resolved` closes the open alert and answers 200."""

    input_serializer = serializers.AlertInSerializer
    output = outputs.AlertSerializer
    answer_queryset = Alert.objects.select_related("service__cluster")
    stored = "alerts"


class DependencyCreateView(BulkCreateView):
    """Declare that `service` depends on (calls, consumes from) `depends_on`.

    Declaring an existing edge again answers 200."""

    input_serializer = serializers.DependencyInSerializer
    output = outputs.DependencyEdgeSerializer
    answer_queryset = Dependency.objects.select_related("service__cluster", "depends_on__cluster")
    stored = "dependencies"
    refs = ("service", "depends_on")
    source = ""  # a declared edge may name services of any source

    def answer(self, pk: int) -> Any:
        return edge_data(self.answer_queryset.get(pk=pk))


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
        # the verdict moves the ranking (as a Slack click does): re-ranked now, the stored suspects hold the change
        # it names even when it was not among them, so a refit from verdicts learns from it (``tuning``)
        engine.rank_and_store(alert.pk)
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
