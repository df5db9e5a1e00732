"""Wiring a ``Collector`` to the database and Celery: load what was stored, send batches as tasks."""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from django.conf import settings

from changetrack.collect.kubernetes import ClusterConfig, Collector, Key, Tuning
from changetrack.collect.tasks import RESYNC_KEY, apply_batch, store_observations
from changetrack.ingest.scrubbing import scrub_key
from changetrack.models import KubeObject, Watermark

logger = logging.getLogger(__name__)


def secret_hash_key(secret_key: str | None = None) -> bytes:
    """The key of the hashes of Secret values and scrubbed credentials: the scrubber's one key, so a value hashes
    the same in an object's state and in the records made from it. ``secret_key``: a fallback key's, to recognise
    hashes made before a rotation."""
    return scrub_key(secret_key)


class CelerySink:
    """Sends each batch as one ``store_observations`` task. When more than ``max_pending`` tasks wait in the
    broker, it blocks (and with it the batcher, the queue and the watchers) until workers catch up; once
    ``closing`` is set (the collector is stopping) it hands over what is left without waiting: at most a queue's
    worth of batches, and their checkpoints are saved instead of read again after the restart."""

    def __init__(self, max_pending: int = 50, queue_name: str | None = None):
        self.max_pending = max_pending
        self.queue_name = queue_name or settings.CELERY_TASK_DEFAULT_QUEUE
        self.closing = threading.Event()

    def pending(self) -> int:
        from changetrack.infra import redis as shared_redis

        return int(shared_redis.client().llen(self.queue_name))

    def send(self, cluster: str, observations: list[dict[str, Any]], checkpoints: dict[str, str]) -> None:
        while self.pending() > self.max_pending and not self.closing.is_set():
            time.sleep(0.1)
        store_observations.apply_async(args=(cluster, observations, checkpoints), queue=self.queue_name, retry=False)


class DirectSink:
    """Stores batches in the calling thread (``--no-celery`` runs and single-process debugging)."""

    def send(self, cluster: str, observations: list[dict[str, Any]], checkpoints: dict[str, str]) -> None:
        apply_batch(cluster, observations, checkpoints)


def load_known(cluster: str) -> dict[str, dict[Key, str]]:
    known: dict[str, dict[Key, str]] = {}
    rows = KubeObject.objects.filter(cluster=cluster).values_list("kind", "namespace", "name", "digest")
    for kind, ns, name, dig in rows.iterator(chunk_size=5000):
        known.setdefault(kind, {})[(ns, name)] = dig
    return known


def load_checkpoints(cluster: str) -> dict[str, str]:
    return dict(Watermark.objects.filter(key__startswith=f"k8s:{cluster}:").values_list("key", "value"))


def build(config: ClusterConfig, sink: Any, tuning: Tuning | None = None) -> Collector:
    """A collector for ``config`` that resumes from what the database holds."""
    key = RESYNC_KEY.format(cluster=config.name)

    def resync_requested() -> str:
        return Watermark.objects.filter(key=key).values_list("value", flat=True).first() or ""

    return Collector(
        config,
        sink,
        secret_hash_key(),
        known=load_known(config.name),
        checkpoints=load_checkpoints(config.name),
        tuning=tuning,
        resync_requested=resync_requested,
        fallback_keys=tuple(secret_hash_key(k) for k in settings.SECRET_KEY_FALLBACKS),
    )
