"""What clients send: changes, alerts, dependencies and feedback. Unknown keys are errors, not ignored."""

from __future__ import annotations

import uuid
from typing import Any, ClassVar

from rest_framework import serializers

from changetrack.api.fields import ObjectField, OffsetDateTimeField, ServiceRefField, StrictCharField
from changetrack.models import ChangeKind, Feedback, Severity
from integrations.base import AlertRecord, ChangeRecord, DependencyRecord, Record

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


class RecordInSerializer(StrictSerializer):
    """An input that becomes one record: the validated fields by name (``timestamp`` is the record's
    ``occurred_at``, arrays become tuples), plus what :meth:`fixed` adds."""

    record: ClassVar[type[Record]]
    tuples: ClassVar[tuple[str, ...]] = ()

    @staticmethod
    def fixed(d: dict[str, Any]) -> dict[str, Any]:
        """The record's fields that the client does not send as such: an API record's source and its
        idempotency key (generated when absent)."""
        return {"source": API_SOURCE, "external_id": d.get("external_id") or f"api-{uuid.uuid4()}"}

    @classmethod
    def to_record(cls, d: dict[str, Any]) -> Record:
        values = {("occurred_at" if k == "timestamp" else k): v for k, v in d.items()}
        for name in cls.tuples:
            values[name] = tuple(values[name])
        return cls.record(**{**values, **cls.fixed(d)})


class LinkSerializer(StrictSerializer):
    title = StrictCharField(max_length=200, allow_blank=True, required=False, default="")
    url = StrictCharField(max_length=1000)


class DiffEntrySerializer(StrictSerializer):
    path = StrictCharField(max_length=500)
    before = serializers.JSONField(required=False, allow_null=True, default=None)
    after = serializers.JSONField(required=False, allow_null=True, default=None)
    redacted = serializers.BooleanField(required=False, default=False)


class ChangeInSerializer(RecordInSerializer):
    """A change to record. Unknown keys are rejected: a typo in a field name must not silently drop the value."""

    record = ChangeRecord
    tuples = ("diff", "links")

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


class AlertInSerializer(RecordInSerializer):
    """An alert event to record. Unknown keys are rejected: a typo in a field name must not silently drop the value."""

    record = AlertRecord
    tuples = ("links",)

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


class DependencyInSerializer(RecordInSerializer):
    """A dependency to declare. Unknown keys are rejected: a typo in a field name must not silently drop the value."""

    record = DependencyRecord

    service = ServiceRefField()
    depends_on = ServiceRefField()
    evidence = StrictCharField(max_length=500, required=False, allow_blank=True, default="declared via API")

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if attrs["service"] == attrs["depends_on"]:
            raise serializers.ValidationError({"depends_on": ["A service cannot depend on itself."]})
        return attrs

    @staticmethod
    def fixed(d: dict[str, Any]) -> dict[str, Any]:
        return {"provenance": "declared", "evidence": d["evidence"] or "declared via API"}


class FeedbackInSerializer(StrictSerializer):
    change_id = serializers.IntegerField(min_value=1, max_value=MAX_ID)
    verdict = serializers.ChoiceField(choices=Feedback.Verdict.choices)
    author = StrictCharField(max_length=200, required=False, allow_blank=True)


class StoredItemSerializer(serializers.Serializer):
    """One entry of an array answer, in input order."""

    id = serializers.IntegerField()
    external_id = serializers.CharField(required=False)
    created = serializers.BooleanField()
    updated = serializers.BooleanField(required=False, help_text="a change posted again had its mutable fields changed")


class StoredItemsSerializer(serializers.Serializer):
    results = StoredItemSerializer(many=True)
