"""Health episodes: a span of bad health on a service (CrashLoopBackOff, OOMKilled, node NotReady...)."""

from __future__ import annotations

from django.db import models

from changetrack.models.changes import Severity


class HealthEpisode(models.Model):
    """One episode per (service, reason) while it lasts, coalesced across pods and repeated updates.

    ``ended_at`` is null while the episode is open; at most one open episode per (service, reason).
    ``details`` holds the pods/nodes involved and counters (restarts, occurrences)."""

    source = models.CharField(max_length=50, default="kubernetes")
    service = models.ForeignKey("changetrack.Service", on_delete=models.CASCADE, related_name="health_episodes")
    reason = models.CharField(max_length=100)
    severity = models.CharField(max_length=10, choices=Severity.choices, default=Severity.WARNING)
    summary = models.CharField(max_length=1024)
    started_at = models.DateTimeField()
    ended_at = models.DateTimeField(null=True, blank=True)
    last_seen_at = models.DateTimeField()
    details = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-started_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["service", "reason"], condition=models.Q(ended_at__isnull=True), name="one_open_episode"
            ),
        ]
        indexes = [models.Index(fields=["service", "-started_at"], name="health_service_time")]

    def __str__(self) -> str:
        return f"{self.reason} on {self.service}"
