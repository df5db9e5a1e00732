"""Alerts with their lifecycle, and incidents that group alerts sharing a top suspect."""

from __future__ import annotations

from django.db import models

from changetrack.models.changes import Severity


class Incident(models.Model):
    """Alerts within minutes of each other that share their top suspect (filled by the correlation engine)."""

    title = models.CharField(max_length=1024)
    started_at = models.DateTimeField()
    resolved_at = models.DateTimeField(null=True, blank=True)
    top_change_id = models.BigIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-started_at"]

    def __str__(self) -> str:
        return self.title


class Alert(models.Model):
    """One alert instance (a Datadog alert cycle, a PagerDuty incident, an Alertmanager fingerprint+startsAt).

    Lifecycle: triggered → (acknowledged) → resolved; a trigger after resolution re-opens it and counts in
    ``trigger_count``. ``last_event_at`` keeps out-of-order deliveries from moving the state backwards."""

    class Status(models.TextChoices):
        TRIGGERED = "triggered"
        ACKNOWLEDGED = "acknowledged"
        RESOLVED = "resolved"

    source = models.CharField(max_length=50)
    external_id = models.CharField(max_length=255)
    title = models.CharField(max_length=1024)
    severity = models.CharField(max_length=10, choices=Severity.choices, default=Severity.ERROR)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.TRIGGERED)
    started_at = models.DateTimeField()
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    last_event_at = models.DateTimeField()
    trigger_count = models.PositiveIntegerField(default=1)
    service = models.ForeignKey(
        "changetrack.Service", null=True, blank=True, on_delete=models.SET_NULL, related_name="alerts"
    )
    service_hint = models.JSONField(default=dict, blank=True)
    labels = models.JSONField(default=dict, blank=True)
    details = models.JSONField(default=dict, blank=True)
    links = models.JSONField(default=list, blank=True)
    url = models.URLField(max_length=1000, blank=True, default="")
    incident = models.ForeignKey(Incident, null=True, blank=True, on_delete=models.SET_NULL, related_name="alerts")
    suspects_computed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-started_at", "-id"]
        constraints = [models.UniqueConstraint(fields=["source", "external_id"], name="alert_source_extid")]
        indexes = [
            models.Index(fields=["service", "-started_at"], name="alert_service_time"),
            models.Index(fields=["-started_at", "-id"], name="alert_time"),  # the unfiltered list, newest first
            models.Index(fields=["status", "-started_at"], name="alert_status_time"),
        ]

    def __str__(self) -> str:
        return self.title
