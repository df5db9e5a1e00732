"""The Kubernetes collector runtime: list then watch every resource type of one cluster, hand batches to Celery.

One thread per resource type (per namespace when an include list is given) lists, then watches with the
unmodified official client, normalises each object (secret values become keyed hashes here, before anything
leaves the process), skips objects whose digest did not change (heartbeats), and puts observations on a
bounded queue. One batcher thread turns the queue into Celery tasks of up to ``batch_size`` observations. A
full queue blocks the watchers, a long broker queue blocks the batcher: the collector slows down, it never
drops an event. https://kubernetes.io/docs/reference/using-api/api-concepts/#efficient-detection-of-changes
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from typing import Any

from changetrack.collect.cluster import ClusterConfig, Key, Sink, Tuning
from changetrack.collect.threads import Backoff, Stats, closing
from changetrack.collect.watcher import ResourceWatcher
from integrations.kubernetes.resources import ResourceType

# re-exported: the runtime, the management command, tests and the bench import these from here
__all__ = ["Backoff", "ClusterConfig", "Collector", "Key", "ResourceWatcher", "Sink", "Stats", "Tuning"]

logger = logging.getLogger(__name__)


class Collector:
    """Collects one cluster. ``known`` maps kind → {(namespace, name): digest} of what was last sent;
    ``checkpoints`` maps checkpoint key → resourceVersion (both loaded from the database by the caller)."""

    def __init__(
        self,
        config: ClusterConfig,
        sink: Sink,
        secret_key: bytes,
        *,
        known: dict[str, dict[Key, str]],
        checkpoints: dict[str, str],
        tuning: Tuning | None = None,
        resync_requested: Callable[[], str] | None = None,
        fallback_keys: tuple[bytes, ...] = (),
    ):
        self.config = config
        self.sink = sink
        self.key = secret_key
        self.fallback_keys = fallback_keys  # the hash keys of SECRET_KEY_FALLBACKS (a rotation in progress)
        self.known = known
        self.checkpoints = checkpoints
        self.tuning = tuning or Tuning()
        self.resync_requested = resync_requested
        self.queue: queue.Queue[tuple[str, Any, Any]] = queue.Queue(maxsize=self.tuning.queue_size)
        self.stop_event = threading.Event()
        self.stats = Stats()
        self.watchers: list[ResourceWatcher] = []
        self.known_lock = threading.Lock()
        self.synced = threading.Event()
        self.sync_sent = threading.Event()  # every object of the first lists has been handed to the sink

    def checkpoint_key(self, rt: ResourceType, namespace: str | None) -> str:
        return f"k8s:{self.config.name}:{rt.plural}" + (f":{namespace}" if namespace else "")

    def start(self) -> list[threading.Thread]:
        threads = [
            threading.Thread(target=closing(self._batch_loop), name=f"k8s-{self.config.name}-batcher", daemon=True)
        ]
        for rt in self.config.resources:
            scopes: list[str | None] = (
                [*sorted(self.config.include)] if (self.config.include and rt.namespaced) else [None]
            )
            for ns in scopes:
                watcher = ResourceWatcher(self, rt, ns)
                self.watchers.append(watcher)
                threads.append(
                    threading.Thread(target=watcher.run, name=f"k8s-{self.config.name}-{rt.plural}", daemon=True)
                )
        if self.resync_requested is not None:
            threads.append(threading.Thread(target=closing(self._resync_poll), daemon=True))
        for t in threads:
            t.start()
        return threads

    def stop(self) -> None:
        self.stop_event.set()
        for w in self.watchers:
            w.interrupt()

    def wait_synced(self, timeout: float) -> bool:
        """True once the first full list of every resource type has been handed to the sink."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.sync_sent.is_set():
                return True
            time.sleep(0.05)
        return False

    def on_synced(self) -> None:
        """When every watcher has finished its first list, tell storage (dependency edges need every object)."""
        with self.known_lock:
            if self.synced.is_set() or not all(w.synced.is_set() for w in self.watchers):
                return
            self.synced.set()
        self.put(("obs", {"type": "SYNCED"}, None))

    def put(self, item: tuple[str, Any, Any]) -> None:
        """Blocking put: a full queue slows the watcher down (never drops). Wakes up to honour stop()."""
        while not self.stop_event.is_set():
            try:
                self.queue.put(item, timeout=0.5)
                return
            except queue.Full:
                continue

    # --- batching ------------------------------------------------------------------------------------------

    def _batch_loop(self) -> None:
        observations: list[dict[str, Any]] = []
        checkpoints: dict[str, str] = {}
        taken = 0
        first = 0.0
        marker = False
        while True:
            wait = self.tuning.flush_interval if observations else self.tuning.checkpoint_interval
            timeout = max(0.01, wait - (time.monotonic() - first)) if taken else 0.5
            try:
                kind, a, b = self.queue.get(timeout=timeout)
                if not taken:
                    first = time.monotonic()
                taken += 1
                if kind == "obs":
                    observations.append(a)
                    marker = marker or a.get("type") == "SYNCED"
                if b is not None:
                    checkpoints[b[0]] = b[1]
            except queue.Empty:
                if self.stop_event.is_set() and not taken:
                    return
            elapsed = time.monotonic() - first
            # checkpoint-only batches (bookmarks, skipped heartbeats) wait longer: no task per bookmark
            due = taken and (
                len(observations) >= self.tuning.batch_size
                or (
                    elapsed >= self.tuning.flush_interval
                    and (observations or elapsed >= self.tuning.checkpoint_interval)
                )
            )
            if due:
                self._send(observations, checkpoints)
                if marker:
                    self.sync_sent.set()
                    marker = False
                for _ in range(taken):
                    self.queue.task_done()
                observations, checkpoints, taken = [], {}, 0

    def _send(self, observations: list[dict[str, Any]], checkpoints: dict[str, str]) -> None:
        backoff = Backoff(0.5, self.tuning.backoff_max)
        while True:
            try:
                self.sink.send(self.config.name, observations, checkpoints)
                self.stats.add("batches" if observations else "checkpoint_batches")
                self.stats.add("sent", len(observations))
                return
            except Exception as exc:  # noqa: BLE001 - broker down or slow: keep the batch and retry, never drop
                logger.warning(
                    "collect.kubernetes.send_failed", extra={"cluster": self.config.name, "error": repr(exc)}
                )
                time.sleep(backoff.next())

    def _resync_poll(self) -> None:
        assert self.resync_requested is not None
        last = self.resync_requested()
        while not self.stop_event.wait(self.tuning.resync_poll):
            now = self.resync_requested()
            if now != last:
                last = now
                logger.info("collect.kubernetes.resync", extra={"cluster": self.config.name})
                for w in self.watchers:
                    w.request_relist()
