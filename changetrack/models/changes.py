"""The change record: one row per change, whatever its source.

The table is partitioned by day on ``occurred_at`` (see ``changetrack.partitions``): retention drops whole
partitions. Its primary key in the database is (id, occurred_at); ``id`` alone is unique by construction
(one sequence), so Django treats it as the key. Rows in other tables point at a change with
``db_constraint=False`` because PostgreSQL cannot reference a partitioned table by ``id`` alone.
Idempotency on (source, external_id) is enforced by ``changetrack.ingest.store`` under advisory locks.
"""

from __future__ import annotations

from django.db import models

from integrations.base import CHANGE_KINDS

#: Derived from the integrations' contract (models may import integrations, not the reverse): a kind added there
#: is a choice here, and ``makemigrations --check`` asks for the migration. (django-stubs types only the functional
#: API's single-name form, hence the ignore.)
ChangeKind = models.TextChoices("ChangeKind", [(kind.upper(), kind) for kind in CHANGE_KINDS])  # type: ignore[call-overload]


class Severity(models.TextChoices):
    CRITICAL = "critical"
    ERROR = "error"
    WARNING = "warning"
    INFO = "info"


class Change(models.Model):
    """A change on a service's timeline.

    ``service`` is null when the source's hint matched no service (shown as "unmapped"; ``service_hint`` keeps
    what the source said so it can be re-mapped). ``release_key`` (first 7 hex chars of a commit SHA, so short SHAs link) links the
    changes of one release across sources. ``status`` tracks progress for rollouts and CI (in_progress,
    succeeded, failed)."""

    id = models.BigAutoField(primary_key=True)
    source = models.CharField(max_length=50)
    external_id = models.CharField(max_length=255)
    kind = models.CharField(max_length=20, choices=ChangeKind.choices)
    occurred_at = models.DateTimeField()
    ended_at = models.DateTimeField(null=True, blank=True)
    summary = models.CharField(max_length=1024)
    actor = models.CharField(max_length=255, blank=True, default="")
    severity = models.CharField(max_length=10, choices=Severity.choices, default=Severity.INFO)
    status = models.CharField(max_length=20, blank=True, default="")
    service = models.ForeignKey(
        "changetrack.Service", null=True, blank=True, on_delete=models.SET_NULL, related_name="changes", db_index=False
    )
    service_hint = models.JSONField(default=dict, blank=True)
    details = models.JSONField(default=dict, blank=True)
    diff = models.JSONField(default=list, blank=True, help_text="[{path, before, after, redacted?}]")
    links = models.JSONField(default=list, blank=True)
    commit_sha = models.CharField(max_length=64, blank=True, default="")
    repository = models.CharField(max_length=300, blank=True, default="")
    release_key = models.CharField(max_length=12, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-occurred_at", "-id"]
        indexes = [
            # the correlation engine's candidate query reads a service's changes in a time range with what it
            # bounds their score by (kind, status): from the index alone, without visiting the table
            models.Index(
                fields=["service", "-occurred_at"], include=["id", "kind", "status"], name="change_service_cover"
            ),
            # the newest changes across everything (the API's unfiltered list, the feed): read in order from
            # the newest partitions instead of sorting the whole table
            models.Index(fields=["-occurred_at", "-id"], name="change_time"),
            models.Index(fields=["source", "external_id"], name="change_source_extid"),
            models.Index(fields=["kind", "-occurred_at"], name="change_kind_time"),
            models.Index(fields=["release_key"], condition=~models.Q(release_key=""), name="change_release"),
            models.Index(fields=["-occurred_at"], condition=models.Q(service__isnull=True), name="change_unmapped"),
        ]

    def __str__(self) -> str:
        return f"{self.kind}: {self.summary}"

    def same_release(self) -> models.QuerySet[Change]:
        """The other changes of this change's release (other sources, other services); none without a
        ``release_key``. Unordered and unbounded: each caller picks its order and page."""
        if not self.release_key:
            return Change.objects.none()
        return Change.objects.filter(release_key=self.release_key).exclude(pk=self.pk)
