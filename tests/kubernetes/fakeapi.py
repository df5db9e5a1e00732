"""A protocol-faithful fake Kubernetes API server for tests and benchmarks (stdlib only, real TCP, HTTP/1.1).

What it reproduces (see docs/kubernetes-testing.md): paginated LIST with a constant resourceVersion across
pages and HTTP 410 for an expired ``continue``; chunked WATCH with one chunk per event, replay from a
resourceVersion then live tail, BOOKMARKs when allowed, close at ``timeoutSeconds``, the in-stream ERROR 410
Status (with reason and message) for a compacted resourceVersion; faults: mid-stream disconnects and 500s.
"""

from __future__ import annotations

import bisect
import copy
import json
import re
import ssl
import threading
import time
import uuid
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

KINDS = {  # plural → (kind, apiVersion, namespaced)
    "deployments": ("Deployment", "apps/v1", True),
    "statefulsets": ("StatefulSet", "apps/v1", True),
    "daemonsets": ("DaemonSet", "apps/v1", True),
    "replicasets": ("ReplicaSet", "apps/v1", True),
    "cronjobs": ("CronJob", "batch/v1", True),
    "jobs": ("Job", "batch/v1", True),
    "horizontalpodautoscalers": ("HorizontalPodAutoscaler", "autoscaling/v2", True),
    "configmaps": ("ConfigMap", "v1", True),
    "secrets": ("Secret", "v1", True),
    "services": ("Service", "v1", True),
    "ingresses": ("Ingress", "networking.k8s.io/v1", True),
    "pods": ("Pod", "v1", True),
    "nodes": ("Node", "v1", False),
    "events": ("Event", "v1", True),
    "leases": ("Lease", "coordination.k8s.io/v1", True),
}
PLURAL = {v[0]: k for k, v in KINDS.items()}
_PATH = re.compile(r"^/(?:api/v1|apis/[^/]+/[^/]+)(?:/namespaces/(?P<ns>[^/]+))?/(?P<plural>[a-z]+)$")


def now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def status(code: int, reason: str, message: str) -> dict[str, Any]:
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }


class FakeCluster:
    """The state: objects, a monotonic resourceVersion, an event log with a compaction watermark."""

    def __init__(self, bookmark_interval: float = 0.0):
        self.cond = threading.Condition()
        self.rv = 1000
        self.objects: dict[tuple[str, str, str], dict[str, Any]] = {}
        self.log: list[tuple[int, str, str, dict[str, Any]]] = []  # (rv, plural, type, object)
        self.log_rvs: list[int] = []
        self.compacted = 0
        self.bookmark_interval = bookmark_interval
        self.published: dict[int, float] = {}
        self.continues: dict[str, tuple[list[dict[str, Any]], int, int]] = {}
        self.faults: list[str] = []
        self.requests: list[str] = []
        self.token = ""  # when set, requests must carry "Authorization: Bearer <token>" (else 401, as a real one)
        # when set, the caller holds Roles in these namespaces only: anything else is 403, as RBAC answers
        self.role_namespaces: frozenset[str] | None = None

    # --- test-side mutators ----------------------------------------------------------------------------------

    def apply(
        self, obj: dict[str, Any], manager: str = "", subresource: str = "", operation: str = "Update"
    ) -> dict[str, Any]:
        """Create or update; bumps generation when the spec changes; records a managedFields entry."""
        obj = copy.deepcopy(obj)
        kind = obj["kind"]
        plural = PLURAL[kind]
        meta = obj.setdefault("metadata", {})
        key = (plural, meta.get("namespace", "") if KINDS[plural][2] else "", meta["name"])
        with self.cond:
            old = self.objects.get(key)
            self.rv += 1
            meta["resourceVersion"] = str(self.rv)
            meta["uid"] = old["metadata"]["uid"] if old else str(uuid.uuid4())
            meta.setdefault("creationTimestamp", old["metadata"]["creationTimestamp"] if old else now_iso())
            if "spec" in obj:
                gen = old["metadata"].get("generation", 1) if old else 1
                meta["generation"] = gen + 1 if old and old.get("spec") != obj.get("spec") else gen
            if manager:
                meta["managedFields"] = self._managed(old, obj, manager, subresource, operation)
            elif old and "managedFields" not in meta:
                meta["managedFields"] = old["metadata"].get("managedFields", [])
            self.objects[key] = obj
            self._append(plural, "MODIFIED" if old else "ADDED", obj)
        return obj

    def _managed(
        self, old: dict[str, Any] | None, obj: dict[str, Any], manager: str, sub: str, op: str
    ) -> list[dict[str, Any]]:
        before, after = (old or {}).get("spec") or {}, obj.get("spec") or {}
        changed = {f"f:{k}": {} for k in set(before) | set(after) if before.get(k) != after.get(k)}
        fields: dict[str, Any] = {"f:spec": changed} if changed else {}
        for part in ("data", "binaryData"):
            if (old or {}).get(part) != obj.get(part) and part in obj:
                fields[f"f:{part}"] = {f"f:{k}": {} for k in obj[part]}
        entries = [
            e
            for e in (old or {}).get("metadata", {}).get("managedFields", [])
            if (e["manager"], e.get("subresource", "")) != (manager, sub)
        ]
        entry = {
            "manager": manager,
            "operation": op,
            "apiVersion": obj.get("apiVersion", "v1"),
            "time": now_iso(),
            "fieldsType": "FieldsV1",
            "fieldsV1": fields,
        }
        if sub:
            entry["subresource"] = sub
        return [*entries, entry]

    def delete(self, kind: str, namespace: str, name: str) -> None:
        plural = PLURAL[kind]
        with self.cond:
            obj = self.objects.pop((plural, namespace if KINDS[plural][2] else "", name))
            self.rv += 1
            obj = copy.deepcopy(obj)
            obj["metadata"]["resourceVersion"] = str(self.rv)
            self._append(plural, "DELETED", obj)

    def load(self, objs: list[dict[str, Any]]) -> None:
        """Bulk create without keeping history (an existing cluster's state before anyone watched)."""
        with self.cond:
            for obj in objs:
                self.rv += 1
                meta = obj["metadata"]
                meta.update(resourceVersion=str(self.rv), uid=meta.get("uid") or str(uuid.uuid4()))
                meta.setdefault("creationTimestamp", now_iso())
                if "spec" in obj:
                    meta.setdefault("generation", 1)
                plural = PLURAL[obj["kind"]]
                self.objects[(plural, meta.get("namespace", "") if KINDS[plural][2] else "", meta["name"])] = obj
            self.compacted = self.rv

    def compact(self) -> None:
        """Forget history (etcd compaction): watches from an older resourceVersion get ERROR 410."""
        with self.cond:
            self.compacted = self.rv
            self.log.clear()
            self.log_rvs.clear()

    def expire_continues(self) -> None:
        with self.cond:
            self.continues.clear()

    def fault(self, name: str) -> None:
        """``disconnect``: the next watch event is cut mid-stream; ``error``: the next request gets a 500;
        ``expire``: the next watch gets an in-stream ERROR 410; ``expire_continue``: the next list page asked
        for with a ``continue`` token gets HTTP 410 (the token expired)."""
        with self.cond:
            self.faults.append(name)
            self.cond.notify_all()

    def _append(self, plural: str, etype: str, obj: dict[str, Any]) -> None:
        self.log.append((self.rv, plural, etype, obj))
        self.log_rvs.append(self.rv)
        self.published[self.rv] = time.time()
        self.cond.notify_all()

    def take_fault(self, name: str) -> bool:
        with self.cond:
            if name in self.faults:
                self.faults.remove(name)
                return True
        return False


def _matches(obj: dict[str, Any], plural: str, ns: str | None, selector: str) -> bool:
    if ns and obj["metadata"].get("namespace") != ns:
        return False
    if selector:
        for clause in selector.split(","):
            field_name, _, value = clause.partition("=")
            if field_name == "type" and obj.get("type") != value:
                return False
    return True


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: Server

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        pass

    def do_GET(self) -> None:  # noqa: N802 - stdlib name
        cluster = self.server.cluster
        url = urlparse(self.path)
        q = {k: v[0] for k, v in parse_qs(url.query).items()}
        cluster.requests.append(self.path)
        scheme, _, token = (self.headers.get("Authorization") or "").partition(" ")
        if cluster.token and (scheme.lower() != "bearer" or token != cluster.token):  # the scheme is case-blind
            return self._json(401, status(401, "Unauthorized", "Unauthorized"))
        match = _PATH.match(url.path)
        if not match or match["plural"] not in KINDS:
            return self._json(
                404, status(404, "NotFound", f"the server could not find the requested resource ({url.path})")
            )
        if cluster.role_namespaces is not None and match["ns"] not in cluster.role_namespaces:
            return self._json(403, status(403, "Forbidden", f"cannot list resource {match['plural']!r}"))
        if cluster.take_fault("error"):
            return self._json(500, status(500, "InternalError", "an error on the server has prevented the request"))
        if q.get("watch") in ("true", "1"):
            return self._watch(match["plural"], match["ns"], q)
        return self._list(match["plural"], match["ns"], q)

    def _json(self, code: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _list(self, plural: str, ns: str | None, q: dict[str, str]) -> None:
        cluster = self.server.cluster
        limit = int(q.get("limit") or 0)
        with cluster.cond:
            token = q.get("continue")
            if token:
                if token not in cluster.continues or cluster.take_fault("expire_continue"):
                    return self._json(
                        410, status(410, "Expired", "The resourceVersion for the provided list is too old.")
                    )
                items, offset, rv = cluster.continues.pop(token)
            else:
                items = [
                    o
                    for (p, _, _), o in sorted(cluster.objects.items())
                    if p == plural and _matches(o, plural, ns, q.get("fieldSelector", ""))
                ]
                offset, rv = 0, cluster.rv
            page = items[offset : offset + limit] if limit else items[offset:]
            meta: dict[str, Any] = {"resourceVersion": str(rv)}
            if limit and offset + limit < len(items):
                new_token = uuid.uuid4().hex
                cluster.continues[new_token] = (items, offset + limit, rv)
                meta["continue"] = new_token
                meta["remainingItemCount"] = len(items) - offset - limit
        kind, api_version, _ = KINDS[plural]
        body = {
            "kind": f"{kind}List",
            "apiVersion": api_version,
            "metadata": meta,
            "items": [{k: v for k, v in o.items() if k not in ("kind", "apiVersion")} for o in page],
        }
        self._json(200, body)

    def _chunk(self, data: bytes) -> None:
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def _event(self, etype: str, obj: dict[str, Any]) -> None:
        self._chunk(json.dumps({"type": etype, "object": obj}).encode() + b"\n")

    def _watch(self, plural: str, ns: str | None, q: dict[str, str]) -> None:
        cluster = self.server.cluster
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        timeout = float(q.get("timeoutSeconds") or 1800)
        deadline = time.monotonic() + timeout
        bookmarks = q.get("allowWatchBookmarks") == "true" and cluster.bookmark_interval > 0
        selector = q.get("fieldSelector", "")
        rv = int(q.get("resourceVersion") or 0)
        kind, api_version, _ = KINDS[plural]
        try:
            with cluster.cond:
                if rv < cluster.compacted or cluster.take_fault("expire"):
                    self._event(
                        "ERROR", status(410, "Expired", f"too old resource version: {rv} ({cluster.compacted})")
                    )
                    self._chunk(b"")
                    return
                pos = bisect.bisect_right(cluster.log_rvs, rv)
            next_bookmark = time.monotonic() + cluster.bookmark_interval
            last_rv = rv
            while True:
                with cluster.cond:
                    if pos >= len(cluster.log):
                        wait = min(deadline, next_bookmark if bookmarks else deadline) - time.monotonic()
                        if wait > 0:
                            cluster.cond.wait(wait)
                    batch = cluster.log[pos : pos + 500]
                    pos += len(batch)
                    current_rv = cluster.rv
                for ev_rv, ev_plural, etype, obj in batch:
                    if ev_plural == plural and _matches(obj, plural, ns, selector):
                        if cluster.take_fault("disconnect"):
                            data = json.dumps({"type": etype, "object": obj}).encode()
                            self.wfile.write(b"%x\r\n%s" % (len(data) + 1, data[: len(data) // 2]))
                            self.wfile.flush()
                            self.close_connection = True
                            return
                        self._event(etype, obj)
                    last_rv = ev_rv
                now = time.monotonic()
                if bookmarks and now >= next_bookmark:
                    last_rv = max(last_rv, current_rv)
                    self._event(
                        "BOOKMARK",
                        {"kind": kind, "apiVersion": api_version, "metadata": {"resourceVersion": str(last_rv)}},
                    )
                    next_bookmark = now + cluster.bookmark_interval
                if now >= deadline:
                    self._chunk(b"")
                    return
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True


class Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, cluster: FakeCluster, tls: ssl.SSLContext | None = None):
        super().__init__(("127.0.0.1", 0), Handler)
        self.cluster = cluster
        self.tls = tls
        if tls is not None:  # HTTPS, as a real API server always is (the in-cluster loader only speaks https)
            self.socket = tls.wrap_socket(self.socket, server_side=True)

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.server_address[1]}"


def serve(cluster: FakeCluster, tls: ssl.SSLContext | None = None) -> Server:
    server = Server(cluster, tls)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True).start()
    return server
