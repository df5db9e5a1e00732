"""What clients send: changes, alerts, dependencies and feedback. Unknown keys are errors, not ignored."""

from __future__ import annotations

import uuid
from typing import Any

from rest_framework import serializers

from changetrack.api.fields import ObjectField, OffsetDateTimeField, ServiceRefField, StrictCharField
from changetrack.models import ChangeKind, Feedback, Severity
from integrations.base import AlertRecord, ChangeRecord, DependencyRecord

API_SOURCE = "api"
MAX_ITEMS = 1000
MAX_ID = 2**63 - 1


class StrictSerializer(serializers.Serializer):
    """Rejects keys it does not know: a typo in a field name must not silently drop the value."""

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, dict):
            unknown = sorted(set(data) - set(self.fields))
            if unknown:
                raise serializers.ValidationError({key: ["Unknown field."] for key in unknown})
        return super().to_internal_value(data)


class LinkSerializer(StrictSerializer):
    title = StrictCharField(max_length=200, allow_blank=True, required=False, default="")
    url = StrictCharField(max_length=1000)


class DiffEntrySerializer(StrictSerializer):
    path = StrictCharField(max_length=500)
    before = serializers.JSONField(required=False, allow_null=True, default=None)
    after = serializers.JSONField(required=False, allow_null=True, default=None)
    redacted = serializers.BooleanField(required=False, default=False)


class ChangeInSerializer(StrictSerializer):
    service = ServiceRefField()
    kind = serializers.ChoiceField(choices=ChangeKind.choices)
    summary = StrictCharField(max_length=1024)
    timestamp = OffsetDateTimeField()
    actor = StrictCharField(max_length=255, required=False, allow_blank=True, default="")
    severity = serializers.ChoiceField(choices=Severity.choices, required=False, default=Severity.INFO)
    details = ObjectField(required=False, default=dict)
    links = LinkSerializer(many=True, required=False, default=list, max_length=50)
    external_id = StrictCharField(max_length=255, required=False, help_text="idempotency key; generated when absent")
    status = serializers.ChoiceField(choices=["", "in_progress", "succeeded", "failed"], required=False, default="")
    ended_at = OffsetDateTimeField(required=False, allow_null=True, default=None)
    diff = DiffEntrySerializer(many=True, required=False, default=list, max_length=500)
    commit_sha = StrictCharField(max_length=64, required=False, allow_blank=True, default="")
    repository = StrictCharField(max_length=300, required=False, allow_blank=True, default="")

    @staticmethod
    def to_record(d: dict[str, Any]) -> ChangeRecord:
        return ChangeRecord(
            source=API_SOURCE,
            external_id=d.get("external_id") or f"api-{uuid.uuid4()}",
            kind=d["kind"],
            occurred_at=d["timestamp"],
            summary=d["summary"],
            service=d["service"],
            actor=d["actor"],
            severity=d["severity"],
            status=d["status"],
            ended_at=d["ended_at"],
            details=d["details"],
            diff=tuple(d["diff"]),
            links=tuple(d["links"]),
            commit_sha=d["commit_sha"],
            repository=d["repository"],
        )


class AlertInSerializer(StrictSerializer):
    service = ServiceRefField()
    title = StrictCharField(max_length=1024)
    severity = serializers.ChoiceField(choices=Severity.choices, required=False, default=Severity.ERROR)
    status = serializers.ChoiceField(
        choices=["triggered", "acknowledged", "resolved"], required=False, default="triggered"
    )
    timestamp = OffsetDateTimeField()
    external_id = StrictCharField(
        max_length=255, required=False, help_text="the alert's identity; a second post with status resolved closes it"
    )
    details = ObjectField(required=False, default=dict)
    links = LinkSerializer(many=True, required=False, default=list, max_length=50)
    url = StrictCharField(max_length=1000, required=False, allow_blank=True, default="")

    @staticmethod
    def to_record(d: dict[str, Any]) -> AlertRecord:
        return AlertRecord(
            source=API_SOURCE,
            external_id=d.get("external_id") or f"api-{uuid.uuid4()}",
            title=d["title"],
            status=d["status"],
            occurred_at=d["timestamp"],
            service=d["service"],
            severity=d["severity"],
            details=d["details"],
            links=tuple(d["links"]),
            url=d["url"],
        )


class DependencyInSerializer(StrictSerializer):
    service = ServiceRefField()
    depends_on = ServiceRefField()
    evidence = StrictCharField(max_length=500, required=False, allow_blank=True, default="declared via API")

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if attrs["service"] == attrs["depends_on"]:
            raise serializers.ValidationError({"depends_on": ["A service cannot depend on itself."]})
        return attrs

    @staticmethod
    def to_record(d: dict[str, Any]) -> DependencyRecord:
        return DependencyRecord(
            service=d["service"],
            depends_on=d["depends_on"],
            provenance="declared",
            evidence=d["evidence"] or "declared via API",
        )


class FeedbackInSerializer(StrictSerializer):
    change_id = serializers.IntegerField(min_value=1, max_value=MAX_ID)
    verdict = serializers.ChoiceField(choices=Feedback.Verdict.choices)
    author = StrictCharField(max_length=200, required=False, allow_blank=True)


class StoredItemSerializer(serializers.Serializer):
    """One entry of an array answer, in input order."""

    id = serializers.IntegerField()
    external_id = serializers.CharField(required=False)
    created = serializers.BooleanField()


class StoredItemsSerializer(serializers.Serializer):
    results = StoredItemSerializer(many=True)
