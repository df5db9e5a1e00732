"""Celery tasks of the collectors: the Kubernetes batches and resync; the poll runner of pull sources
(``changetrack.collect.polling``) and GitHub commit ranges.

A batch is applied in one transaction: object states, the records derived from them (through
``store_records``), health episodes, and the resourceVersion checkpoints the batch reached. So a checkpoint
never gets ahead of what is stored, and a batch redone after a crash changes nothing twice.
"""

from __future__ import annotations

import json
import logging
import operator
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from functools import reduce
from typing import Any

import requests
from celery import shared_task
from django.db import transaction
from django.db.models import Q, TextField
from django.db.models.functions import Cast
from django.utils import timezone

from changetrack import partitions
from changetrack.collect import github, polling
from changetrack.collect.lookups import DbLookups
from changetrack.infra import db
from changetrack.ingest.health import close_stale, store_signals
from changetrack.ingest.store import store_records
from changetrack.models import Connection, Dependency, KubeObject, Watermark
from changetrack.resolution import ServiceResolver
from integrations.base import TRANSIENT_PAUSE, RateLimited, Record
from integrations.kubernetes.health import WARNING_REASONS, HealthSignal
from integrations.kubernetes.resources import WORKLOAD_KINDS
from integrations.kubernetes.translate import Observation, dependencies, hint, identity, translate

logger = logging.getLogger(__name__)
Key = tuple[str, str, str]
RESYNC_KEY = "k8s:{cluster}:resync"
EVENT_QUIET = timedelta(minutes=15)


def _lock(cluster: str, keys: Sequence[Key]) -> None:
    db.advisory_xact_lock(db.advisory_key("k8s", cluster, *k) for k in keys)


def _key(state: dict[str, Any]) -> Key:
    return state["kind"], state.get("namespace", ""), state["name"]


@shared_task(acks_late=True, reject_on_worker_lost=True)
def store_observations(cluster: str, observations: list[dict[str, Any]], checkpoints: dict[str, str]) -> dict[str, int]:
    """Apply a batch of observations (``Observation.as_payload()`` dicts, each with its ``digest``)."""
    return apply_batch(cluster, observations, checkpoints)


def apply_batch(cluster: str, payloads: list[dict[str, Any]], checkpoints: dict[str, str]) -> dict[str, int]:
    synced = any(p.get("type") == "SYNCED" for p in payloads)
    kept = [p for p in payloads if p.get("type") != "SYNCED"]
    observations = [(Observation.from_payload(p), p.get("digest", "")) for p in kept]
    out = _apply(cluster, observations, checkpoints, [p.get("rekeyed_from", "") for p in kept])
    if synced:
        out["edges"] = derive_dependencies(cluster)
    return out


def _apply(
    cluster: str, observations: list[tuple[Observation, str]], checkpoints: dict[str, str], rekeyed_from: list[str]
) -> dict[str, int]:
    if observations:
        partitions.ensure_for("changetrack_change", (o.observed_at for o, _ in observations))
    keys = [_key(o.state) for o, _ in observations]
    records: list[Record] = []
    signals: list[HealthSignal] = []
    with transaction.atomic():
        _lock(cluster, keys)
        rows = _load(cluster, set(keys))
        current: dict[Key, dict[str, Any] | None] = {k: (r.state if r else None) for k, r in rows.items()}
        digests = {k: (r.digest if r else "") for k, r in rows.items()}
        dirty: dict[Key, str] = {}
        lookups = DbLookups(cluster, current)
        lookups.prefetch_owners([o.state for o, _ in observations if o.state.get("kind") in ("Pod", "Job")])
        lookups.batch_hpas = {
            k: o.state for (o, _), k in zip(observations, keys, strict=True) if k[0] == "HorizontalPodAutoscaler"
        }
        skipped = 0
        routing: set[str] = set()  # names whose routing changed (Services, Ingress hosts): edges to re-derive
        for (obs, dig), key, old_dig in zip(observations, keys, rekeyed_from, strict=True):
            if obs.type != "DELETED" and dig and digests.get(key) == dig:
                skipped += 1  # a replay (restart, relist, duplicate event): already applied
                continue
            if old_dig and digests.get(key) == old_dig:
                # the stored object, its secret hashes keyed by the new SECRET_KEY (the collector matched it under
                # a fallback key): keep the new hashes so later diffs compare like with like, record no change
                current[key], digests[key], dirty[key] = obs.state, dig, dig
                continue
            if obs.type == "DELETED" and current.get(key) is None:
                skipped += 1
                continue
            if key[0] in ("Service", "Ingress") and not obs.baseline:
                routing |= _routed_names(current.get(key)) | _routed_names(obs.state)
            out = translate(cluster, obs, current.get(key), lookups)
            records += out.records
            signals += out.signals
            current[key] = out.state
            digests[key] = dig
            dirty[key] = dig
        _save(cluster, rows, current, dirty)
        resolver = ServiceResolver()
        for key in dirty:
            state = current[key]
            if state is not None and key[0] in WORKLOAD_KINDS:
                resolver.resolve(hint(identity(cluster, state)), "kubernetes")  # every workload is a service
        if records:
            store_records(records, update_existing=True, resolver=resolver)
        if signals:
            store_signals(signals, resolver)
        for name, rv in checkpoints.items():
            Watermark.objects.update_or_create(key=name, defaults={"value": rv})
    result = {"observations": len(observations), "skipped": skipped, "records": len(records), "signals": len(signals)}
    if routing:
        result["edges"] = derive_dependencies(cluster, mentioning=routing)
    return result


def _routed_names(state: dict[str, Any] | None) -> set[str]:
    """The names a Service or Ingress makes reachable: the Service's name, the Ingress's hosts."""
    if not state:
        return set()
    if state.get("kind") == "Service":
        return {state["name"]}
    return {b["host"].removeprefix("*.") for b in (state.get("spec") or {}).get("backends") or [] if b.get("host")}


@dataclass(frozen=True)
class Stored:
    pk: int
    digest: str
    state: dict[str, Any]


def _load(cluster: str, keys: set[Key]) -> dict[Key, Stored | None]:
    """The stored rows of ``keys``, in one query probing the (cluster, kind, namespace, name) index."""
    found: dict[Key, Stored | None] = dict.fromkeys(keys)
    if not keys:
        return found
    ordered = list(keys)
    with db.raw_cursor() as cur:
        cur.execute(_LOAD, [*([k[i] for k in ordered] for i in range(3)), cluster])
        for pk, kind, ns, name, dig, state in cur.fetchall():
            # Django registers a text loader for jsonb on its connections (JSONField decodes itself)
            found[(kind, ns, name)] = Stored(pk, dig, json.loads(state) if isinstance(state, str) else state)
    return found


_LOAD = """
SELECT o.id, o.kind, o.namespace, o.name, o.digest, o.state FROM changetrack_kubeobject o
JOIN unnest(%b::text[], %b::text[], %b::text[]) AS k(kind, namespace, name)
  ON o.kind = k.kind AND o.namespace = k.namespace AND o.name = k.name
WHERE o.cluster = %b
"""


def _service_of(key: Key, state: dict[str, Any]) -> str:
    if key[0] == "Pod":
        return str(state.get("service", ""))
    return str((state.get("labels") or {}).get("app.kubernetes.io/name") or state["name"])


def _save(
    cluster: str, rows: dict[Key, Stored | None], current: dict[Key, dict[str, Any] | None], dirty: dict[Key, str]
) -> None:
    """Upsert the changed states and delete the vanished ones: one statement each, arrays as parameters
    (executemany cost one round of parse/bind/execute per row in PostgreSQL, the largest part of a batch)."""
    columns: list[list[str]] = [[] for _ in range(9)]
    deletes: list[int] = []
    for key, dig in dirty.items():
        state = current[key]
        if state is None:
            row = rows.get(key)
            if row is not None:
                deletes.append(row.pk)
            continue
        values = (
            key[0],
            key[1],
            key[2],
            str(state.get("uid", "")),
            str(state.get("rv", "")),
            dig,
            _service_of(key, state),
            str(state.get("node", "")) if key[0] == "Pod" else "",
            json.dumps(state),
        )
        for column, value in zip(columns, values, strict=True):
            column.append(value)
    with db.raw_cursor() as cur:
        if deletes:
            cur.execute("DELETE FROM changetrack_kubeobject WHERE id = ANY(%b::bigint[])", [deletes])
        if columns[0]:
            cur.execute(_UPSERT, [cluster, *columns])


_UPSERT = """
INSERT INTO changetrack_kubeobject (cluster, kind, namespace, name, uid, resource_version, digest, service, node,
                                    state, updated_at)
SELECT %b, kind, namespace, name, uid, rv, digest, service, node, state::jsonb, now()
FROM unnest(%b::text[], %b::text[], %b::text[], %b::text[], %b::text[], %b::text[], %b::text[], %b::text[],
            %b::text[]) AS t(kind, namespace, name, uid, rv, digest, service, node, state)
ON CONFLICT (cluster, kind, namespace, name) DO UPDATE SET
    uid = EXCLUDED.uid, resource_version = EXCLUDED.resource_version, digest = EXCLUDED.digest,
    service = EXCLUDED.service, node = EXCLUDED.node, state = EXCLUDED.state, updated_at = EXCLUDED.updated_at
"""


def derive_dependencies(cluster: str, chunk: int = 500, mentioning: set[str] | None = None) -> int:
    """Re-derive the dependency edges of the workloads of ``cluster`` from stored states. Needed after an
    initial sync (workloads may be stored before the Services their env names), when a Service or an Ingress
    changes (only the workloads whose env or ConfigMaps mention one of ``mentioning``), and periodically.

    A full pass (no ``mentioning``) also removes the cluster's Kubernetes edges it did not see again: an env
    var or annotation that no longer names a service, a workload that is gone. Edges of other provenances stay."""
    started = timezone.now()
    total = 0
    rows = KubeObject.objects.filter(cluster=cluster, kind__in=list(WORKLOAD_KINDS))
    if mentioning is not None:
        rows = rows.filter(_mentioning(cluster, mentioning))
    batch: list[Record] = []
    lookups = DbLookups(cluster, {})
    for row in rows.order_by("namespace", "pk").iterator(chunk_size=chunk):
        batch += dependencies(identity(cluster, row.state), row.state, lookups)
        if len(batch) >= chunk:
            total += len(store_records(batch).dependencies)
            batch = []
    if batch:
        total += len(store_records(batch).dependencies)
    if mentioning is None:
        gone, _ = Dependency.objects.filter(
            provenance=Dependency.Provenance.KUBERNETES, service__cluster__name=cluster, last_seen_at__lt=started
        ).delete()
        if gone:
            logger.info("collect.kubernetes.edges_removed", extra={"cluster": cluster, "edges": gone})
    return total


def _mentioning(cluster: str, names: set[str]) -> Q:
    """Workloads whose stored state contains one of ``names``, or that use a ConfigMap that does (a plain
    substring test: it may take a few workloads too many, never too few)."""
    text = reduce(operator.or_, (Q(text__contains=n) for n in names))
    match = Q(
        pk__in=KubeObject.objects.annotate(text=Cast("state", TextField())).filter(text, cluster=cluster).values("pk")
    )
    configmaps = (
        KubeObject.objects.annotate(text=Cast("state", TextField()))
        .filter(text, cluster=cluster, kind="ConfigMap")
        .values_list("namespace", "name")
    )
    for ns, name in configmaps:
        match |= Q(namespace=ns, state__refs__configmaps__contains=[name])
    return match


@shared_task
def resync_kubernetes() -> dict[str, int]:
    """Periodic safety net: ask every running collector to relist (it diffs against what is stored and sends
    only what differs), and end Warning-event episodes that went quiet (events never say "recovered")."""
    now = timezone.now().isoformat()
    clusters = list(KubeObject.objects.values_list("cluster", flat=True).distinct())
    for cluster in clusters:
        Watermark.objects.update_or_create(key=RESYNC_KEY.format(cluster=cluster), defaults={"value": now})
        derive_dependencies(cluster)
    closed = close_stale(sorted(WARNING_REASONS), EVENT_QUIET)
    logger.info("collect.kubernetes.resync_requested", extra={"clusters": len(clusters), "closed_episodes": closed})
    return {"clusters": len(clusters), "closed_episodes": closed}


@shared_task(name="changetrack.poll_due")
def poll_due() -> int:
    """Beat entry (every minute): enqueue one ``poll_connection`` per pull-source connection that is due."""
    due = polling.due_connections()
    for conn in due:
        poll_connection.delay(str(conn.pk))
    return len(due)


@shared_task(name="changetrack.poll_connection")
def poll_connection(connection_id: str) -> dict[str, Any]:
    """Poll one connection now (the runner's lock keeps two runs of it from overlapping)."""
    conn = Connection.objects.filter(pk=connection_id, enabled=True).first()
    if conn is None:
        return {"outcome": "gone"}
    summary = polling.poll_connection(conn)
    return {"outcome": summary.outcome, "records": summary.records, "error": summary.error}


@shared_task(name="changetrack.attach_commit_range", bind=True, max_retries=5)
def attach_commit_range(self: Any, change_id: int) -> str:
    """Attach the commits and files between a deploy's old and new commit; retried after a rate limit."""
    try:
        return github.attach_range(change_id, polling.retrying_session())
    except RateLimited as exc:
        countdown = max(1, int((exc.resume_after - timezone.now()).total_seconds()))
        raise self.retry(countdown=min(countdown, 3600), exc=exc) from exc
    except requests.RequestException as exc:  # GitHub unreachable after the session's retries
        raise self.retry(countdown=int(TRANSIENT_PAUSE.total_seconds()), exc=exc) from exc


@shared_task(name="changetrack.attach_pending_commit_ranges")
def attach_pending_commit_ranges() -> int:
    """Beat entry: enqueue ``attach_commit_range`` for deploys whose commit range is missing."""
    ids = github.pending_ranges()
    for change_id in ids:
        attach_commit_range.delay(change_id)
    return len(ids)
