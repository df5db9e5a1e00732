"""What a Kubernetes collector is given: a cluster (its name, API client and namespace filters), its tuning, and
the ``Sink`` its batches go to."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from kubernetes import client as k8s

from integrations.kubernetes.resources import RESOURCES, ResourceType

Key = tuple[str, str]  # (namespace, name) within one kind


class Sink(Protocol):
    def send(self, cluster: str, observations: list[dict[str, Any]], checkpoints: dict[str, str]) -> None: ...


@dataclass
class ClusterConfig:
    """One cluster: its name (as stored on services), an ApiClient, and namespace filters."""

    name: str
    api_client: k8s.ApiClient
    include: frozenset[str] = frozenset()
    exclude: frozenset[str] = frozenset()
    resources: tuple[ResourceType, ...] = RESOURCES


@dataclass
class Tuning:
    batch_size: int = 500
    flush_interval: float = 0.25
    queue_size: int = 5000
    page_size: int = 500
    watch_timeout: int = 300
    backoff_max: float = 30.0
    resync_poll: float = 30.0
    checkpoint_interval: float = 1.0
