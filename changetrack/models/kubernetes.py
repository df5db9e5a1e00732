"""The last stored state of each Kubernetes object the collector tracks.

What diffs, relists and restarts compare against: the collector loads (key, digest) at start to skip objects
that did not change, and after a 410 it relists and emits deletions for keys it no longer sees. ``state`` is
the normalised state from ``integrations.kubernetes.normalize`` (Secrets only as keyed hashes).
"""

from __future__ import annotations

from django.db import models


class KubeObject(models.Model):
    """One object of one cluster. ``service`` is the service name the object maps to in its namespace
    (workloads, pods), for coalescing and lookups; empty for objects that belong to no service."""

    cluster = models.CharField(max_length=100)
    kind = models.CharField(max_length=50)
    namespace = models.CharField(max_length=253, blank=True, default="")
    name = models.CharField(max_length=253)
    uid = models.CharField(max_length=64, blank=True, default="")
    resource_version = models.CharField(max_length=64, blank=True, default="")
    digest = models.CharField(max_length=32)
    service = models.CharField(max_length=253, blank=True, default="")
    node = models.CharField(max_length=253, blank=True, default="")
    state = models.JSONField(default=dict)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["cluster", "kind", "namespace", "name"], name="kube_object_key")]
        indexes = [
            models.Index(fields=["cluster", "namespace", "kind"], name="kube_object_ns_kind"),
            models.Index(fields=["cluster", "node"], name="kube_object_node", condition=~models.Q(node="")),
        ]

    def __str__(self) -> str:
        return f"{self.cluster}/{self.kind}/{self.namespace}/{self.name}"
