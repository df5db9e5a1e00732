"""Push destinations: routing rules, one notification per alert and destination, and Slack's stored clicks."""

from __future__ import annotations

from django.db import models

from changetrack.models.changes import Severity

#: most severe first; a rule's minimum severity admits itself and everything before it
SEVERITY_ORDER = [Severity.CRITICAL, Severity.ERROR, Severity.WARNING, Severity.INFO]


class RoutingRule(models.Model):
    """Which alerts a push connection announces, and where. Every non-empty criterion must match (team,
    service, cluster, namespace, severity at least ``min_severity``). A matching ``silence`` rule sends nothing
    for that connection; otherwise every matching rule adds its channel (empty: the connection's own). With no
    matching rule a connection announces ``critical`` and ``error`` alerts to its own channel."""

    connection = models.ForeignKey("changetrack.Connection", on_delete=models.CASCADE, related_name="routing_rules")
    team = models.CharField(max_length=100, blank=True, default="")
    service = models.ForeignKey(
        "changetrack.Service", null=True, blank=True, on_delete=models.CASCADE, related_name="routing_rules"
    )
    cluster = models.CharField(max_length=100, blank=True, default="")
    namespace = models.CharField(max_length=253, blank=True, default="")
    min_severity = models.CharField(max_length=10, choices=Severity.choices, default=Severity.WARNING)
    channel = models.CharField(max_length=200, blank=True, default="", help_text="empty: the connection's channel")
    silence = models.BooleanField(default=False, help_text="send nothing for matching alerts")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["connection", "silence", "team", "cluster", "namespace", "id"]

    def __str__(self) -> str:
        scope = "/".join(p for p in (self.team, self.cluster, self.namespace) if p) or "any"
        target = "silence" if self.silence else (self.channel or "default channel")
        return f"{scope} ≥{self.min_severity} → {target}"


class OutboundStatus(models.TextChoices):
    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"


class Outbound(models.Model):
    """What every outbound row keeps for the one sender (``changetrack.notify.sender``): its state, the attempts,
    the last error (cleared by the next success) and when it was last sent."""

    status = models.CharField(max_length=10, choices=OutboundStatus.choices, default=OutboundStatus.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True, default="")
    last_error_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True


class Notification(Outbound):
    """One alert announced to one destination (connection + channel): the idempotency key of the announcement,
    so an alert is posted once however often it is ranked or delivered, and later edited in place.

    ``channel_id``/``ts`` identify the Slack message (``thread_ts`` when it went into an incident's thread);
    ``digest`` is the hash of the content last sent (an unchanged ranking sends nothing). ``last_error`` is the
    last failure, cleared by the next success; ``status`` failed means retries ran out."""

    Status = OutboundStatus

    connection = models.ForeignKey("changetrack.Connection", on_delete=models.CASCADE, related_name="notifications")
    alert = models.ForeignKey("changetrack.Alert", on_delete=models.CASCADE, related_name="notifications")
    channel = models.CharField(max_length=200, blank=True, default="")
    channel_id = models.CharField(max_length=50, blank=True, default="")
    ts = models.CharField(max_length=50, blank=True, default="")
    thread_ts = models.CharField(max_length=50, blank=True, default="")
    digest = models.CharField(max_length=64, blank=True, default="")
    version = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["alert", "connection", "channel"], name="notification_destination")
        ]
        indexes = [models.Index(fields=["connection", "-last_error_at"], name="notification_errors")]

    def __str__(self) -> str:
        return f"alert {self.alert_id} → {self.connection_id} {self.channel}"


class Interaction(models.Model):
    """A click on a message's button as Slack posted it (verified), stored before it is answered and processed
    later by a task. ``body`` is the ``payload`` JSON without its credentials (``interaction.storable``);
    ``trigger_id`` (Slack's id of the interaction) makes a repeated request one row."""

    class Status(models.TextChoices):
        PENDING = "pending"
        PROCESSED = "processed"
        IGNORED = "ignored"
        FAILED = "failed"

    connection = models.ForeignKey("changetrack.Connection", on_delete=models.CASCADE, related_name="interactions")
    trigger_id = models.CharField(max_length=255)
    body = models.TextField()
    received_at = models.DateTimeField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    error = models.TextField(blank=True, default="")
    processed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["connection", "trigger_id"], name="interaction_trigger")]

    def __str__(self) -> str:
        return f"interaction {self.trigger_id} ({self.status})"


class Annotation(Outbound):
    """A change pushed to a Grafana connection as an annotation: ``annotation_id`` is the id Grafana answered
    (0 until the first POST succeeds), so an update of the change edits it with PATCH instead of adding a second
    one. ``digest`` is the hash of what was last sent (an unchanged change sends nothing); ``last_error`` the
    last failure, cleared by the next success; ``status`` failed means retries ran out."""

    Status = OutboundStatus

    connection = models.ForeignKey("changetrack.Connection", on_delete=models.CASCADE, related_name="annotations")
    change = models.ForeignKey("changetrack.Change", on_delete=models.DO_NOTHING, db_constraint=False, related_name="+")
    annotation_id = models.BigIntegerField(default=0)
    digest = models.CharField(max_length=64, blank=True, default="")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["connection", "change"], name="annotation_change")]
        indexes = [models.Index(fields=["connection", "-last_error_at"], name="annotation_errors")]

    def __str__(self) -> str:
        return f"change {self.change_id} → {self.connection_id} #{self.annotation_id}"
