"""Clusters, services and the alias rules that map what a source knows onto a service."""

from __future__ import annotations

from django.db import models


class Cluster(models.Model):
    """A Kubernetes cluster (or any deployment target). ``env`` lists environment names that mean this
    cluster in other tools (Datadog ``env:prod``), comma-separated."""

    name = models.CharField(max_length=100, unique=True)
    env = models.CharField(
        max_length=200, blank=True, default="", help_text="comma-separated env names, e.g. prod,production"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def env_names(self) -> list[str]:
        return [e.strip().lower() for e in self.env.split(",") if e.strip()]


class Service(models.Model):
    """A service, identified by (cluster, namespace, name). Cluster and namespace may be empty for services
    known only by name (declared through the API before any collector saw them)."""

    cluster = models.ForeignKey(Cluster, null=True, blank=True, on_delete=models.PROTECT, related_name="services")
    namespace = models.CharField(max_length=253, blank=True, default="")
    name = models.CharField(max_length=253)
    workload_kind = models.CharField(max_length=40, blank=True, default="", help_text="Deployment, StatefulSet, ...")
    labels = models.JSONField(default=dict, blank=True)
    team = models.CharField(max_length=100, blank=True, default="")
    owner = models.CharField(max_length=200, blank=True, default="")
    repository = models.CharField(max_length=300, blank=True, default="", help_text="owner/name on GitHub")
    settings = models.JSONField(
        default=dict,
        blank=True,
        help_text='e.g. {"correlation_window_minutes": 720, "correlation_window_by_kind": {"config": 120}}',
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "namespace"]
        constraints = [
            models.UniqueConstraint(
                fields=["cluster", "namespace", "name"], name="service_identity", nulls_distinct=False
            ),
        ]
        indexes = [models.Index(fields=["name"]), models.Index(fields=["team"])]

    def __str__(self) -> str:
        return self.qualified_name

    @property
    def qualified_name(self) -> str:
        parts = [p for p in (self.cluster.name if self.cluster_id and self.cluster else "", self.namespace) if p]
        return "/".join([*parts, self.name])

    def as_ref(self) -> dict[str, object]:
        return {
            "id": self.pk,
            "name": self.name,
            "namespace": self.namespace,
            "cluster": self.cluster.name if self.cluster_id and self.cluster else "",
        }


class ServiceAlias(models.Model):
    """A rule: when a source reports ``key = value`` (a Datadog ``service`` tag, a PagerDuty service name, a
    LaunchDarkly flag tag, a GitHub repository...), the record belongs to ``service``.

    ``source`` empty means any source. ``key`` is one of the hint keys of ``integrations.base.ServiceHint``."""

    source = models.CharField(max_length=50, blank=True, default="", help_text="integration slug, empty for any")
    key = models.CharField(max_length=50, help_text="name, repo, flag, flag_tag, pagerduty_service, label:<k>, ...")
    value = models.CharField(max_length=300)
    service = models.ForeignKey(Service, on_delete=models.CASCADE, related_name="aliases")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name_plural = "service aliases"
        constraints = [models.UniqueConstraint(fields=["source", "key", "value"], name="alias_unique")]

    def __str__(self) -> str:
        return f"{self.source or '*'}:{self.key}={self.value} → {self.service}"
