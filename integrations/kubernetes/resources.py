"""The resource types the collector lists and watches, and where they live in the API.

Leases are deliberately absent (heartbeats, pure noise). Events are watched with ``type=Warning`` only.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ResourceType:
    """``api`` is the client class name; ``plural`` builds the client method names and the RBAC rule."""

    kind: str
    plural: str
    api: str
    group: str  # "" for the core group (RBAC spelling)
    namespaced: bool = True
    field_selector: str = ""

    @property
    def snake(self) -> str:
        return "".join("_" + c.lower() if c.isupper() else c for c in self.kind).lstrip("_")

    def list_method(self, namespaced: bool) -> str:
        if not self.namespaced:
            return f"list_{self.snake}"
        return f"list_namespaced_{self.snake}" if namespaced else f"list_{self.snake}_for_all_namespaces"


RESOURCES: tuple[ResourceType, ...] = (
    ResourceType("Deployment", "deployments", "AppsV1Api", "apps"),
    ResourceType("StatefulSet", "statefulsets", "AppsV1Api", "apps"),
    ResourceType("DaemonSet", "daemonsets", "AppsV1Api", "apps"),
    ResourceType("ReplicaSet", "replicasets", "AppsV1Api", "apps"),
    ResourceType("CronJob", "cronjobs", "BatchV1Api", "batch"),
    ResourceType("Job", "jobs", "BatchV1Api", "batch"),
    ResourceType("HorizontalPodAutoscaler", "horizontalpodautoscalers", "AutoscalingV2Api", "autoscaling"),
    ResourceType("ConfigMap", "configmaps", "CoreV1Api", ""),
    ResourceType("Secret", "secrets", "CoreV1Api", ""),
    ResourceType("Service", "services", "CoreV1Api", ""),
    ResourceType("Ingress", "ingresses", "NetworkingV1Api", "networking.k8s.io"),
    ResourceType("Pod", "pods", "CoreV1Api", ""),
    ResourceType("Node", "nodes", "CoreV1Api", "", namespaced=False),
    ResourceType("Event", "events", "CoreV1Api", "", field_selector="type=Warning"),
)
BY_KIND = {r.kind: r for r in RESOURCES}
WORKLOAD_KINDS = frozenset({"Deployment", "StatefulSet", "DaemonSet", "CronJob"})
