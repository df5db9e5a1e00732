"""The service graph: ``service`` depends on (calls, consumes from) ``depends_on``."""

from __future__ import annotations

from django.db import models


class Dependency(models.Model):
    """A directed edge with where it came from. One row per (service, depends_on, provenance); ``evidence``
    says what showed it ("env var REST_API_URL", "declared via API", "12 alerts followed changes")."""

    class Provenance(models.TextChoices):
        DECLARED = "declared"
        KUBERNETES = "kubernetes"
        LEARNED = "learned"
        TRACES = "traces"

    service = models.ForeignKey("changetrack.Service", on_delete=models.CASCADE, related_name="dependencies")
    depends_on = models.ForeignKey("changetrack.Service", on_delete=models.CASCADE, related_name="dependents")
    provenance = models.CharField(max_length=20, choices=Provenance.choices)
    evidence = models.CharField(max_length=500, blank=True, default="")
    confidence = models.FloatField(default=1.0)
    #: for edges read from traces: calls and failed calls over the source's window, and what kind of peer
    calls = models.BigIntegerField(null=True, blank=True)
    errors = models.BigIntegerField(null=True, blank=True)
    connection_type = models.CharField(max_length=40, blank=True, default="")
    first_seen_at = models.DateTimeField(auto_now_add=True)
    last_seen_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "dependencies"
        constraints = [
            models.UniqueConstraint(fields=["service", "depends_on", "provenance"], name="dependency_unique"),
            models.CheckConstraint(condition=~models.Q(service=models.F("depends_on")), name="dependency_not_self"),
        ]
        indexes = [models.Index(fields=["depends_on"], name="dependency_reverse")]

    def __str__(self) -> str:
        return f"{self.service} → {self.depends_on} ({self.provenance})"


class UnmappedEdge(models.Model):
    """An edge read from traces (``provenance``) with at least one end that matched no service: kept with what the
    source said (``service_hint``/``depends_on_hint``, the stored form of ``ServiceHint``) so the unmapped page
    can offer to map the name, and stored as a ``Dependency`` as soon as both ends resolve (the hourly remap, or
    at once when a name is mapped). ``service_key``/``depends_on_key`` are the hints as sorted JSON: the identity
    of the row. Expires like trace edges do."""

    provenance = models.CharField(max_length=20)
    service_key = models.CharField(max_length=1000)
    depends_on_key = models.CharField(max_length=1000)
    service_hint = models.JSONField(default=dict)
    depends_on_hint = models.JSONField(default=dict)
    service_unmapped = models.BooleanField(default=True)
    depends_on_unmapped = models.BooleanField(default=True)
    evidence = models.CharField(max_length=500, blank=True, default="")
    calls = models.BigIntegerField(null=True, blank=True)
    errors = models.BigIntegerField(null=True, blank=True)
    connection_type = models.CharField(max_length=40, blank=True, default="")
    first_seen_at = models.DateTimeField()
    last_seen_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["provenance", "service_key", "depends_on_key"], name="unmapped_edge_unique")
        ]

    def __str__(self) -> str:
        return f"{self.service_hint.get('name', '?')} → {self.depends_on_hint.get('name', '?')} ({self.provenance})"
