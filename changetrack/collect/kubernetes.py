"""The Kubernetes collector runtime: list then watch every resource type of one cluster, hand batches to Celery.

One thread per resource type (per namespace when an include list is given) lists, then watches with the
unmodified official client, normalises each object (secret values become keyed hashes here, before anything
leaves the process), skips objects whose digest did not change (heartbeats), and puts observations on a
bounded queue. One batcher thread turns the queue into Celery tasks of up to ``batch_size`` observations. A
full queue blocks the watchers, a long broker queue blocks the batcher: the collector slows down, it never
drops an event. https://kubernetes.io/docs/reference/using-api/api-concepts/#efficient-detection-of-changes
"""

from __future__ import annotations

import json
import logging
import queue
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from kubernetes import client as k8s
from kubernetes import watch as k8s_watch
from kubernetes.client.exceptions import ApiException
from urllib3.exceptions import HTTPError

from integrations.kubernetes.normalize import digest, normalize
from integrations.kubernetes.resources import RESOURCES, ResourceType
from integrations.kubernetes.translate import Observation

logger = logging.getLogger(__name__)
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


@dataclass
class Stats:
    events: int = 0
    bookmarks: int = 0
    unchanged: int = 0
    relists: int = 0
    expired: int = 0
    reconnects: int = 0
    batches: int = 0
    checkpoint_batches: int = 0
    sent: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, name: str, n: int = 1) -> None:
        with self.lock:
            setattr(self, name, getattr(self, name) + n)


class Backoff:
    """Exponential delays with jitter, from ``first`` up to ``cap`` (reconnects, broker retries)."""

    def __init__(self, first: float, cap: float):
        self.first, self.cap, self.delay = first, cap, first

    def next(self) -> float:
        delay = self.delay * (1 + random.random() / 2)  # noqa: S311 - jitter, not crypto
        self.delay = min(self.delay * 2, self.cap)
        return delay

    def reset(self) -> None:
        self.delay = self.first


def _closing(loop: Callable[[], None]) -> Callable[[], None]:
    """Run a thread's loop, then close the Django connection that thread opened (sinks, resync checks)."""

    def run() -> None:
        try:
            loop()
        finally:
            from django.db import connection

            connection.close()

    return run


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
    ):
        self.config = config
        self.sink = sink
        self.key = secret_key
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
            threading.Thread(target=_closing(self._batch_loop), name=f"k8s-{self.config.name}-batcher", daemon=True)
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
            threads.append(threading.Thread(target=_closing(self._resync_poll), daemon=True))
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


class ResourceWatcher:
    """List + watch of one resource type (in one namespace, or all)."""

    def __init__(self, collector: Collector, rt: ResourceType, namespace: str | None):
        self.c = collector
        self.rt = rt
        self.namespace = namespace
        self.ckpt_key = collector.checkpoint_key(rt, namespace)
        self.synced = threading.Event()
        self._watch: k8s_watch.Watch | None = None
        self._relist = threading.Event()
        api = getattr(k8s, rt.api)(collector.config.api_client)
        self._list = getattr(api, rt.list_method(bool(namespace)))
        self._args = (namespace,) if namespace else ()
        self._extra = {"field_selector": rt.field_selector} if rt.field_selector else {}

    def interrupt(self) -> None:
        if self._watch is not None:
            self._watch.stop()

    def request_relist(self) -> None:
        self._relist.set()
        self.interrupt()

    def run(self) -> None:
        # a checkpoint is only stored with (or after) the batch holding its list: resuming from it is safe
        rv = self.c.checkpoints.get(self.ckpt_key) or None
        backoff = Backoff(0.2, self.c.tuning.backoff_max)
        while not self.c.stop_event.is_set():
            try:
                if rv is None or self._relist.is_set():
                    self._relist.clear()
                    rv = self.relist()
                if not self.synced.is_set():
                    self.synced.set()
                    self.c.on_synced()
                rv = self.watch(rv)
                backoff.reset()
            except (ApiException, HTTPError, OSError, ValueError) as exc:
                if isinstance(exc, ApiException) and exc.status == 410:  # the watch position expired: relist
                    self.c.stats.add("expired")
                    logger.info(
                        "collect.kubernetes.expired",
                        extra={"resource": self.rt.plural, "cluster": self.c.config.name},
                    )
                    rv = None
                    continue
                self.c.stats.add("reconnects")
                logger.warning(
                    "collect.kubernetes.watch_failed",
                    extra={"resource": self.rt.plural, "cluster": self.c.config.name, "error": type(exc).__name__},
                )
                if self.c.stop_event.wait(backoff.next()):
                    return

    # --- list ------------------------------------------------------------------------------------------------

    def relist(self) -> str:
        """Paginated list; observations for what differs from ``known``, DELETED for what vanished.
        Returns the list's resourceVersion (constant across pages) to watch from."""
        self.c.stats.add("relists")
        with self.c.known_lock:
            known = self.c.known.setdefault(self.rt.kind, {})
            baseline = not known and self.ckpt_key not in self.c.checkpoints  # first sync ever: nothing to diff
        seen: set[Key] = set()
        token: str | None = None
        list_rv = ""
        while True:
            kwargs: dict[str, Any] = {"limit": self.c.tuning.page_size, "_preload_content": False, **self._extra}
            if token:
                kwargs["_continue"] = token
            try:
                resp = self._list(*self._args, **kwargs)
            except ApiException as exc:
                if exc.status == 410 and token:  # continue token expired: start the list again
                    seen.clear()
                    token = None
                    continue
                raise
            body = json.loads(resp.data)
            list_rv = body["metadata"].get("resourceVersion", "")
            now = datetime.now(UTC)
            for raw in body.get("items") or []:
                meta = raw.get("metadata") or {}
                etype = "MODIFIED" if (meta.get("namespace", ""), meta.get("name", "")) in known else "ADDED"
                seen.add(self.emit(etype, raw, now, baseline=baseline, checkpoint=None))
            token = body["metadata"].get("continue") or None
            if not token:
                break
        now = datetime.now(UTC)
        with self.c.known_lock:
            vanished = [k for k in known if k not in seen and self._in_scope(k[0])]
        for ns, name in vanished:
            gone = {"kind": self.rt.kind, "namespace": ns, "name": name, "uid": "", "rv": ""}
            self.c.put(("obs", Observation("DELETED", gone, now).as_payload(), None))
            with self.c.known_lock:
                known.pop((ns, name), None)
        self.c.put(("ckpt", None, (self.ckpt_key, list_rv)))
        return list_rv

    def _in_scope(self, namespace: str) -> bool:
        if self.namespace is not None and namespace != self.namespace:
            return False
        return namespace not in self.c.config.exclude

    def emit(
        self,
        etype: str,
        raw: dict[str, Any],
        now: datetime,
        *,
        baseline: bool = False,
        checkpoint: tuple[str, str] | None,
    ) -> Key:
        meta = raw.get("metadata") or {}
        key = (meta.get("namespace", ""), meta.get("name", ""))
        if not self._in_scope(key[0]):
            if checkpoint:
                self.c.put(("ckpt", None, checkpoint))
            return key
        state = normalize(raw, self.c.key, self.rt.kind)
        dig = digest(state)
        known = self.c.known.setdefault(self.rt.kind, {})
        with self.c.known_lock:
            unchanged = etype != "DELETED" and known.get(key) == dig
            if etype == "DELETED":
                known.pop(key, None)
            else:
                known[key] = dig
        if unchanged:
            self.c.stats.add("unchanged")
            if checkpoint:
                self.c.put(("ckpt", None, checkpoint))
            return key
        payload = Observation(etype, state, now, baseline=baseline).as_payload()
        payload["digest"] = dig
        self.c.put(("obs", payload, checkpoint))
        return key

    # --- watch -----------------------------------------------------------------------------------------------

    def watch(self, rv: str) -> str:
        """Watch from ``rv`` until the server closes the stream; returns the last resourceVersion seen."""
        w = k8s_watch.Watch(return_type="object")  # plain dicts: skip model deserialisation, keep raw_object
        self._watch = w
        timeout = int(self.c.tuning.watch_timeout * (0.8 + random.random() * 0.4))  # noqa: S311 - spread reconnects
        try:
            for ev in w.stream(
                self._list,
                *self._args,
                resource_version=rv,
                timeout_seconds=timeout,
                allow_watch_bookmarks=True,
                _request_timeout=(10, timeout + 30),
                **self._extra,
            ):
                raw = ev["raw_object"]
                new_rv = (raw.get("metadata") or {}).get("resourceVersion") or rv
                if ev["type"] == "BOOKMARK":
                    self.c.stats.add("bookmarks")
                    if new_rv != rv:
                        self.c.put(("ckpt", None, (self.ckpt_key, new_rv)))
                else:
                    self.c.stats.add("events")
                    self.emit(ev["type"], raw, datetime.now(UTC), checkpoint=(self.ckpt_key, new_rv))
                rv = new_rv
                if self.c.stop_event.is_set() or self._relist.is_set():
                    break
        finally:
            self._watch = None
        return rv
