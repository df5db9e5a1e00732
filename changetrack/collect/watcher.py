"""List + watch of one resource type of one cluster: a paginated list (relist) first, then a watch from its
resourceVersion; every object becomes an observation on the collector's queue unless its digest is unchanged.
https://kubernetes.io/docs/reference/using-api/api-concepts/#efficient-detection-of-changes
"""

from __future__ import annotations

import json
import logging
import random
import threading
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from kubernetes import client as k8s
from kubernetes import watch as k8s_watch
from kubernetes.client.exceptions import ApiException
from urllib3.exceptions import HTTPError

from changetrack.collect.cluster import Key
from changetrack.collect.threads import Backoff
from integrations.kubernetes.normalize import digest, normalize
from integrations.kubernetes.resources import ResourceType
from integrations.kubernetes.translate import Observation

if TYPE_CHECKING:  # the collector creates its watchers; they call back into it
    from changetrack.collect.kubernetes import Collector

logger = logging.getLogger("changetrack.collect.kubernetes")  # the collector's logger: one name to filter on


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
            previous = known.get(key)
            unchanged = etype != "DELETED" and previous == dig
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
        if etype != "DELETED" and previous and self._rekeyed(raw, previous):
            payload["rekeyed_from"] = previous  # stored with the new hashes, recorded as no change
        self.c.put(("obs", payload, checkpoint))
        return key

    def _rekeyed(self, raw: dict[str, Any], previous: str) -> bool:
        """True when ``raw`` hashed under a fallback key (SECRET_KEY_FALLBACKS: the key was rotated) is what was
        sent last: only its secret hashes differ, the object did not change. Asked only for objects whose
        digest changed, and only while fallback keys are configured."""
        return any(digest(normalize(raw, key, self.rt.kind)) == previous for key in self.c.fallback_keys)

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
