"""What clients read. Timestamps are UTC with ``Z``; a service is always ``{id, name, namespace, cluster}``."""

from __future__ import annotations

from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from changetrack.models import Alert, Service


class ServiceRefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    namespace = serializers.CharField(allow_blank=True)
    cluster = serializers.CharField(allow_blank=True)


def service_ref(service: Service | None) -> dict[str, Any] | None:
    return service.as_ref() if service is not None else None


@extend_schema_field(ServiceRefSerializer(allow_null=True))
class ServiceRefOutField(serializers.Field):
    """The related service as a reference (null for an unmapped record). Needs ``select_related("service__cluster")``."""

    def __init__(self, **kwargs: Any):
        kwargs["read_only"] = True
        super().__init__(**kwargs)

    def to_representation(self, value: Any) -> Any:
        return service_ref(value)

    def get_attribute(self, instance: Any) -> Any:
        return instance["service"] if isinstance(instance, dict) else instance.service


class ProblemErrorSerializer(serializers.Serializer):
    field = serializers.CharField()
    detail = serializers.CharField()
    index = serializers.IntegerField(required=False, help_text="the bad item's position in an array body")
    candidates = ServiceRefSerializer(many=True, required=False, help_text="for an ambiguous service name")


class ProblemSerializer(serializers.Serializer):
    type = serializers.CharField()
    title = serializers.CharField()
    status = serializers.IntegerField()
    detail = serializers.CharField()
    errors = ProblemErrorSerializer(many=True)


class LinkOutSerializer(serializers.Serializer):
    title = serializers.CharField(allow_blank=True, required=False)
    url = serializers.CharField()


# what every stored change and alert starts with: its id and its identity at its source (comments, not
# docstrings: a serializer's docstring becomes the description of every schema component built on it)
class RecordSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    external_id = serializers.CharField()
    source = serializers.CharField()


class LastChangeSerializer(RecordSerializer):  # a change listed under its own service: no service field
    kind = serializers.CharField()
    summary = serializers.CharField()
    timestamp = serializers.DateTimeField(source="occurred_at")


class ChangeSummarySerializer(LastChangeSerializer):
    service = ServiceRefOutField(allow_null=True)


class ChangeSerializer(ChangeSummarySerializer):
    ended_at = serializers.DateTimeField(allow_null=True)
    actor = serializers.CharField(allow_blank=True)
    severity = serializers.CharField()
    status = serializers.CharField(allow_blank=True)
    details = serializers.JSONField()
    links = serializers.JSONField()
    diff = serializers.JSONField()
    commit_sha = serializers.CharField(allow_blank=True)
    repository = serializers.CharField(allow_blank=True)
    release_key = serializers.CharField(allow_blank=True)
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class ChangeDetailSerializer(ChangeSerializer):
    related = ChangeSummarySerializer(
        many=True, help_text="changes of the same release (same release_key) from any source"
    )


class AlertSerializer(RecordSerializer):
    title = serializers.CharField()
    severity = serializers.CharField()
    status = serializers.CharField()
    timestamp = serializers.DateTimeField(source="started_at")
    acknowledged_at = serializers.DateTimeField(allow_null=True)
    resolved_at = serializers.DateTimeField(allow_null=True)
    last_event_at = serializers.DateTimeField()
    trigger_count = serializers.IntegerField()
    service = ServiceRefOutField(allow_null=True)
    labels = serializers.JSONField()
    details = serializers.SerializerMethodField()
    links = serializers.JSONField()
    url = serializers.CharField(allow_blank=True)
    incident_id = serializers.IntegerField(allow_null=True)
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()

    @extend_schema_field(OpenApiTypes.OBJECT)
    def get_details(self, alert: Alert) -> dict[str, Any]:
        return {k: v for k, v in alert.details.items() if not k.startswith("_")}  # _events is bookkeeping


class DependencyEdgeSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    service = ServiceRefSerializer()
    depends_on = ServiceRefSerializer()
    provenance = serializers.CharField()
    evidence = serializers.CharField(allow_blank=True)
    confidence = serializers.FloatField()
    first_seen_at = serializers.DateTimeField()
    last_seen_at = serializers.DateTimeField()


class HealthSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=["ok", "degraded", "alerting"])
    open_alerts = serializers.IntegerField()
    active_health_episodes = serializers.IntegerField()


class ServiceSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    namespace = serializers.CharField(allow_blank=True)
    cluster = serializers.CharField(allow_blank=True)
    team = serializers.CharField(allow_blank=True)
    owner = serializers.CharField(allow_blank=True)
    repository = serializers.CharField(allow_blank=True)
    workload_kind = serializers.CharField(allow_blank=True)
    labels = serializers.JSONField()
    health = HealthSerializer()
    last_change = LastChangeSerializer(allow_null=True)


class EdgeSerializer(serializers.Serializer):
    """One edge seen from one end: ``service`` is the other end."""

    id = serializers.IntegerField()
    service = ServiceRefSerializer()
    provenance = serializers.CharField()
    evidence = serializers.CharField(allow_blank=True)
    confidence = serializers.FloatField()
    calls = serializers.IntegerField(allow_null=True, help_text="traces: calls over the source's window")
    errors = serializers.IntegerField(allow_null=True, help_text="traces: failed calls over the source's window")
    connection_type = serializers.CharField(
        allow_blank=True, help_text='traces: "" for a call, "database", "messaging_system"'
    )
    first_seen_at = serializers.DateTimeField()
    last_seen_at = serializers.DateTimeField()


class ServiceDetailSerializer(ServiceSerializer):
    dependencies = EdgeSerializer(many=True, help_text="services this one depends on")
    dependents = EdgeSerializer(many=True, help_text="services that depend on this one")


class FeedbackSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    alert_id = serializers.IntegerField()
    change_id = serializers.IntegerField()
    verdict = serializers.CharField()
    author = serializers.CharField(allow_blank=True)
    created_at = serializers.DateTimeField()


class SuspectAlertSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    title = serializers.CharField()
    timestamp = serializers.DateTimeField(source="started_at")
    service = ServiceRefOutField(allow_null=True)


class SuspectChangeSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    external_id = serializers.CharField()
    kind = serializers.CharField()
    summary = serializers.CharField()
    timestamp = serializers.DateTimeField(source="occurred_at")
    service = ServiceRefOutField(allow_null=True)


class SuspectSerializer(serializers.Serializer):
    rank = serializers.IntegerField(min_value=1)
    score = serializers.FloatField(min_value=0, max_value=1)
    change = SuspectChangeSerializer()
    hops = serializers.IntegerField()
    relation = serializers.ChoiceField(
        choices=["self", "down", "up", "mixed", "none"],
        allow_null=True,
        help_text="how the changed service relates to the alerting one: self; down (a dependency of it, "
        "`hops` away); up (it depends on the alerting service: a change there can overload it); mixed (through a "
        "shared dependency); none (no known dependency: same team or namespace, `hops` is then 1 and `path` the "
        "two services); null for suspects stored before this field existed",
    )
    path = serializers.ListField(child=serializers.CharField())
    components = serializers.DictField(child=serializers.FloatField())
    reasons = serializers.ListField(child=serializers.CharField())


class SuspectsSerializer(serializers.Serializer):
    alert = SuspectAlertSerializer()
    suspects = SuspectSerializer(many=True)
    no_change_stands_out = serializers.BooleanField(
        help_text="true when no suspect reaches the calibrated threshold: more likely no change caused the alert"
    )


class ServiceSuspectsSerializer(serializers.Serializer):
    service = ServiceRefSerializer()
    at = serializers.DateTimeField()
    suspects = SuspectSerializer(many=True)


class TimelineServiceSerializer(ServiceRefSerializer):
    hops = serializers.IntegerField()


class TimelineEntrySerializer(serializers.Serializer):
    type = serializers.ChoiceField(choices=["change", "alert", "health"])
    id = serializers.IntegerField()
    timestamp = serializers.DateTimeField()
    ended_at = serializers.DateTimeField(allow_null=True)
    kind = serializers.CharField(help_text="the change kind, or 'alert' / 'health'")
    source = serializers.CharField()
    summary = serializers.CharField()
    severity = serializers.CharField()
    status = serializers.CharField(allow_blank=True)
    actor = serializers.CharField(allow_blank=True, help_text="who made the change; empty for alerts and health")
    reason = serializers.CharField(allow_blank=True, help_text="a health episode's reason; empty otherwise")
    service = TimelineServiceSerializer()


class TimelineSerializer(serializers.Serializer):
    service = ServiceRefSerializer()
    since = serializers.DateTimeField()
    until = serializers.DateTimeField()
    depth = serializers.IntegerField()
    services = TimelineServiceSerializer(many=True)
    results = TimelineEntrySerializer(many=True)
    next = serializers.CharField(allow_null=True)
