"""One observation (an object's new normalised state) + what we last stored → records, health signals, state.

Pure: lookups into other stored objects (which workloads mount this ConfigMap, what an HPA wants, which
workload a Service selects) go through the ``Lookups`` protocol, implemented against the database by the
caller. External ids are deterministic (``<cluster>/<kind>/<ns>/<name>/<generation>``), so replaying an
observation after a restart or a relist updates the same rows and never duplicates a change.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from integrations.base import ChangeRecord, DependencyRecord, Record, ServiceHint
from integrations.kubernetes import SOURCE, commits, deps, health
from integrations.kubernetes.diff import actor_for, images, replicas_changed, spec_diff, template_changed
from integrations.kubernetes.health import HealthSignal, Identity
from integrations.kubernetes.resources import WORKLOAD_KINDS
from integrations.kubernetes.rollout import progress, rollout_record


class Lookups(Protocol):
    def owner_identity(self, namespace: str, kind: str, name: str) -> Identity | None: ...
    def referencing(self, namespace: str, ref: str, name: str) -> list[tuple[Identity, str, str]]: ...
    def hpa_desired(self, namespace: str, kind: str, name: str) -> int | None: ...
    def hosts(self, namespace: str, host: str, path: str) -> list[tuple[Identity, str]]: ...
    def configmap(self, namespace: str, name: str) -> dict[str, Any] | None: ...
    def pod_identity(self, namespace: str, name: str) -> Identity | None: ...
    def services_on_node(self, node: str) -> list[Identity]: ...
    def repository(self, identity: Identity) -> str: ...


@dataclass(frozen=True)
class Observation:
    """``type`` ADDED/MODIFIED/DELETED; ``baseline`` marks the first ever sync (no history to diff against)."""

    type: str
    state: dict[str, Any]
    observed_at: datetime
    baseline: bool = False

    def as_payload(self) -> dict[str, Any]:
        return {"type": self.type, "state": self.state, "at": self.observed_at.isoformat(), "baseline": self.baseline}

    @classmethod
    def from_payload(cls, data: dict[str, Any]) -> Observation:
        return cls(data["type"], data["state"], datetime.fromisoformat(data["at"]), bool(data.get("baseline")))


@dataclass
class Output:
    records: list[Record] = field(default_factory=list)
    signals: list[HealthSignal] = field(default_factory=list)
    state: dict[str, Any] | None = None  # None: forget the object


def identity(cluster: str, state: dict[str, Any]) -> Identity:
    name = (state.get("labels") or {}).get("app.kubernetes.io/name") or state["name"]
    return Identity(cluster, state["namespace"], name, state["kind"])


def hint(ident: Identity, create: bool = True) -> ServiceHint:
    return ServiceHint(
        name=ident.name,
        namespace=ident.namespace,
        cluster=ident.cluster,
        workload_kind=ident.workload_kind,
        create=create,
    )


def base_id(cluster: str, state: dict[str, Any]) -> str:
    return f"{cluster}/{state['kind']}/{state['namespace']}/{state['name']}"


def template_hash(state: dict[str, Any]) -> str:
    body = json.dumps((state.get("spec") or {}).get("template"), sort_keys=True)
    return hashlib.blake2b(body.encode(), digest_size=8).hexdigest()


def translate(cluster: str, obs: Observation, before: dict[str, Any] | None, lookups: Lookups) -> Output:
    kind = obs.state["kind"]
    if obs.type == "DELETED" and before is not None:
        # a relist only knows the key of a vanished object: the rest comes from what we stored
        obs = Observation(obs.type, {**before, **{k: v for k, v in obs.state.items() if v}}, obs.observed_at)
    handler = _HANDLERS.get(kind)
    if handler is None:
        return Output(state=None if obs.type == "DELETED" else obs.state)
    return handler(cluster, obs, before, lookups)


# --- workloads -----------------------------------------------------------------------------------------------


def _when(at: str, fallback: datetime) -> datetime:
    try:
        parsed = datetime.fromisoformat(at.replace("Z", "+00:00"))
    except ValueError:
        return fallback
    return parsed if parsed <= fallback else fallback


def _workload(cluster: str, obs: Observation, before: dict[str, Any] | None, lookups: Lookups) -> Output:
    after = obs.state
    ident = identity(cluster, after if obs.type != "DELETED" else (before or after))
    out = Output()
    if obs.type == "DELETED":
        if before is not None:
            out.records.append(
                ChangeRecord(
                    source=SOURCE,
                    external_id=f"{base_id(cluster, before)}/deleted/{before.get('uid', '')}",
                    kind="infra",
                    occurred_at=obs.observed_at,
                    summary=f"{before['kind']} {before['name']} deleted",
                    service=hint(ident),
                    severity="warning",
                )
            )
        return out
    state = {**after, "history": list((before or {}).get("history") or []), "rollout": (before or {}).get("rollout")}
    current = template_hash(after)
    out.records += dependencies(ident, after, lookups)
    if before is None and obs.baseline:
        state["history"] = [current]
        out.state = state
        return out
    record = _spec_change(cluster, ident, before, after, state, current, obs, lookups)
    if record is not None:
        out.records.append(record)
        previous = state.get("rollout")
        if record.kind in ("deploy", "rollback") and previous and previous["record"]["status"] == "in_progress":
            out.records.append(rollout_record(_superseded(previous)))
        if record.kind in ("deploy", "rollback") and after["kind"] != "CronJob":
            state["rollout"] = {"record": _record_payload(record), "generation": after.get("generation", 0)}
    if current not in state["history"]:
        state["history"] = (state["history"] + [current])[-10:]
    if state.get("rollout"):
        updated = progress(state["rollout"], {**after, "observed_at": obs.observed_at.isoformat()})
        if updated is not None:
            state["rollout"] = updated
            out.records = [
                r
                for r in out.records
                if not (isinstance(r, ChangeRecord) and r.external_id == updated["record"]["external_id"])
            ]
            out.records.append(rollout_record(updated))
        if updated is not None and updated["record"]["status"] in ("succeeded", "failed"):
            state["rollout"] = None
    out.state = state
    return out


def _superseded(rollout: dict[str, Any]) -> dict[str, Any]:
    """A rollout replaced by a newer template before it finished."""
    record = dict(rollout["record"])
    record["status"] = "superseded"
    record["details"] = {
        **record["details"],
        "rollout": {**(record["details"].get("rollout") or {}), "status": "superseded"},
    }
    return {**rollout, "record": record}


def _spec_change(
    cluster: str,
    ident: Identity,
    before: dict[str, Any] | None,
    after: dict[str, Any],
    state: dict[str, Any],
    current: str,
    obs: Observation,
    lookups: Lookups,
) -> ChangeRecord | None:
    gen = after.get("generation", 0)
    ext = f"{base_id(cluster, after)}/{gen}"
    name = f"{after['kind']} {after['namespace']}/{after['name']}"
    if before is None:
        who, at = actor_for(after, "spec.template")
        return _deploy_record(
            ident, ext, "deploy", f"{name} created", who, _when(at, obs.observed_at), None, after, [], lookups
        )
    diff = spec_diff(before, after)
    if not diff:
        return None
    if template_changed(before, after):
        rollback = current in state["history"] and current != template_hash(before)
        who, at = actor_for(after, "spec.template")
        verb = "rolled back" if rollback else "updated"
        return _deploy_record(
            ident,
            ext,
            "rollback" if rollback else "deploy",
            f"{name} {verb}",
            who,
            _when(at, obs.observed_at),
            before,
            after,
            diff,
            lookups,
        )
    if replicas_changed(before, after):
        return _scale_record(ident, ext, name, before, after, diff, obs, lookups)
    who, at = actor_for(after, "metadata")
    if not who:
        who, at = actor_for(after, "spec")
    if after.get("generation") == before.get("generation"):
        ext = f"{base_id(cluster, after)}/rv/{after.get('rv', '')}"
    return ChangeRecord(
        source=SOURCE,
        external_id=ext,
        kind="config",
        occurred_at=_when(at, obs.observed_at),
        summary=f"{name} configuration changed ({', '.join(d['path'] for d in diff[:3])})",
        service=hint(ident),
        actor=who,
        diff=tuple(diff),
    )


def _scale_record(
    ident: Identity,
    ext: str,
    name: str,
    before: dict[str, Any],
    after: dict[str, Any],
    diff: list[dict[str, Any]],
    obs: Observation,
    lookups: Lookups,
) -> ChangeRecord:
    old, new = before["spec"].get("replicas"), after["spec"].get("replicas")
    who, at = actor_for(after, "spec.replicas")
    desired = lookups.hpa_desired(after["namespace"], after["kind"], after["name"])
    by_hpa = who.startswith("controller:") or (desired is not None and desired == new)
    if by_hpa:
        who = "controller:horizontal-pod-autoscaler"
    return ChangeRecord(
        source=SOURCE,
        external_id=ext,
        kind="autoscale" if by_hpa else "scale",
        occurred_at=_when(at, obs.observed_at),
        summary=f"{name} scaled {old} → {new}" + (" by the HPA" if by_hpa else ""),
        service=hint(ident),
        actor=who,
        diff=tuple(diff),
        details={"replicas_before": old, "replicas_after": new},
        severity="warning" if (old or 0) and (new or 0) < (old or 0) / 2 else "info",
    )


def _deploy_record(
    ident: Identity,
    ext: str,
    kind: str,
    summary: str,
    who: str,
    at: datetime,
    before: dict[str, Any] | None,
    after: dict[str, Any],
    diff: list[dict[str, Any]],
    lookups: Lookups,
) -> ChangeRecord:
    old_images, new_images = images(before), images(after)
    main = next(iter(new_images), "")
    old_commit = commits.commit_of(before, old_images.get(main, "")) if before else ""
    new_commit = commits.commit_of(after, new_images.get(main, ""))
    repo = commits.repo_of(after) or (lookups.repository(ident) if new_commit else "")
    details = {
        "old_image": old_images.get(main, ""),
        "new_image": new_images.get(main, ""),
        "images": new_images,
        "old_commit": old_commit,
        "new_commit": new_commit,
        "revision": after.get("revision", ""),
        "rollout": {"started_at": at.isoformat(), "status": "in_progress"},
    }
    changed = [d["path"] for d in diff if not d["path"].startswith(("labels", "annotations"))][:3]
    if changed:
        summary += f" ({', '.join(changed)})"
    return ChangeRecord(
        source=SOURCE,
        external_id=ext,
        kind=kind,
        occurred_at=at,
        summary=summary,
        service=hint(ident),
        actor=who,
        status="in_progress" if after["kind"] != "CronJob" else "",
        diff=tuple(diff),
        details=details,
        commit_sha=new_commit,
        repository=repo,
        severity="warning" if kind == "rollback" else "info",
    )


def _record_payload(rec: ChangeRecord) -> dict[str, Any]:
    return {
        "external_id": rec.external_id,
        "kind": rec.kind,
        "occurred_at": rec.occurred_at.isoformat(),
        "summary": rec.summary,
        "service": rec.service.as_dict(),
        "actor": rec.actor,
        "status": rec.status,
        "diff": list(rec.diff),
        "details": dict(rec.details),
        "commit_sha": rec.commit_sha,
        "repository": rec.repository,
        "severity": rec.severity,
    }


def dependencies(ident: Identity, state: dict[str, Any], lookups: Lookups) -> list[Record]:
    """Edges from a workload to the services its env, its ConfigMaps and its annotation name."""
    found: dict[Identity, str] = {}
    for var, value in deps.env_values(state):
        for target, via in _targets(ident.namespace, value, lookups):
            found.setdefault(target, f"env var {var}{via}")
    for cm in (state.get("refs") or {}).get("configmaps") or []:
        for key, value in ((lookups.configmap(ident.namespace, cm) or {}).get("data") or {}).items():
            if isinstance(value, str):
                for target, via in _targets(ident.namespace, value, lookups):
                    found.setdefault(target, f"configmap {cm} key {key}{via}")
    for name in deps.declared(state):
        found.setdefault(Identity(ident.cluster, ident.namespace, name), f"annotation {deps.DEPENDS_ON}")
    return [
        DependencyRecord(
            service=hint(ident), depends_on=hint(target, create=False), provenance="kubernetes", evidence=evidence
        )
        for target, evidence in found.items()
        if target.name != ident.name
    ]


def _targets(namespace: str, value: str, lookups: Lookups) -> list[tuple[Identity, str]]:
    """The services a value names, each with how it was reached ("" for a Service name, " via ingress ..."
    for a host an Ingress routes)."""
    out: list[tuple[Identity, str]] = []
    for host, path in deps.urls_in(value):
        out += lookups.hosts(namespace, host, path)
    return out


# --- config, secrets, autoscalers --------------------------------------------------------------------------


def _data(cluster: str, obs: Observation, before: dict[str, Any] | None, lookups: Lookups) -> Output:
    after = obs.state
    out = Output(state=None if obs.type == "DELETED" else after)
    if (before is None and (obs.baseline or obs.type == "DELETED")) or (
        before is not None and obs.type != "DELETED" and before.get("data") == after.get("data")
    ):
        return out
    kind = "secret" if after["kind"] == "Secret" else "config"
    deleted = obs.type == "DELETED"
    diff = [] if deleted else spec_diff({"data": (before or {}).get("data") or {}}, {"data": after.get("data") or {}})
    who, at = actor_for(after, "data")
    ref = "secrets" if kind == "secret" else "configmaps"
    users = lookups.referencing(after["namespace"], ref, after["name"])
    verb = "deleted" if deleted else ("created" if before is None else "changed")
    keys = sorted({d["path"].split(".", 1)[-1] for d in diff})[:5]
    base = f"{base_id(cluster, after)}/{after.get('rv', '') if not deleted else 'deleted-' + after.get('uid', '')}"
    summary = f"{after['kind']} {after['name']} {verb}" + (f" (keys: {', '.join(keys)})" if keys else "")
    common: dict[str, Any] = {
        "kind": kind,
        "occurred_at": _when(at, obs.observed_at),
        "actor": who,
        "diff": tuple(diff),
    }
    if not users:
        out.records.append(
            ChangeRecord(
                source=SOURCE,
                external_id=base,
                summary=summary,
                details={"workloads": []},
                service=ServiceHint(
                    namespace=after["namespace"],
                    cluster=cluster,
                    keys=((f"k8s_{after['kind'].lower()}", f"{after['namespace']}/{after['name']}"),),
                ),
                **common,
            )
        )
    for ident, wkind, wname in users:
        out.records.append(
            ChangeRecord(
                source=SOURCE,
                external_id=f"{base}/{wkind}/{wname}",
                summary=f"{summary}, used by {wkind} {wname}",
                service=hint(ident),
                details={"object": f"{after['kind']}/{after['name']}", "workload": wname},
                **common,
            )
        )
    return out


def _hpa(cluster: str, obs: Observation, before: dict[str, Any] | None, lookups: Lookups) -> Output:
    after = obs.state
    out = Output(state=None if obs.type == "DELETED" else after)
    if before is None and obs.baseline:
        return out
    if before is not None and obs.type != "DELETED" and before.get("spec") == after.get("spec"):
        return out
    target = after["spec"].get("scaleTargetRef") or {}
    ident = lookups.owner_identity(after["namespace"], target.get("kind", ""), target.get("name", "")) or Identity(
        cluster, after["namespace"], target.get("name", after["name"]), target.get("kind", "")
    )
    verb = "deleted" if obs.type == "DELETED" else ("created" if before is None else "changed")
    diff = [] if obs.type == "DELETED" else spec_diff(before, after)
    who, at = actor_for(after, "spec")
    ext = f"{base_id(cluster, after)}/" + (
        f"deleted-{after.get('uid', '')}" if verb == "deleted" else str(after.get("generation", 0))
    )
    spec = after["spec"]
    out.records.append(
        ChangeRecord(
            source=SOURCE,
            external_id=ext,
            kind="scale",
            occurred_at=_when(at, obs.observed_at),
            summary=f"HPA {after['name']} {verb} (min {spec.get('minReplicas')}, max {spec.get('maxReplicas')})",
            service=hint(ident),
            actor=who,
            diff=tuple(diff),
        )
    )
    return out


# --- health ----------------------------------------------------------------------------------------------------


def _pod(cluster: str, obs: Observation, before: dict[str, Any] | None, lookups: Lookups) -> Output:
    after = None if obs.type == "DELETED" else obs.state
    subject = after or before or obs.state
    owner = subject.get("owner")
    ident = lookups.owner_identity(subject["namespace"], owner["kind"], owner["name"]) if owner else None
    if ident is None and owner:
        ident = _pod_owner_fallback(cluster, subject, owner)
    out = Output()
    if after is not None:
        out.state = {
            **after,
            "restart_times": health.restart_times(before, after, obs.observed_at),
            "service": ident.name if ident else "",
        }
    if ident is not None:
        out.signals = health.pod_signals(ident, before, out.state, obs.observed_at)
    return out


def _pod_owner_fallback(cluster: str, pod: dict[str, Any], owner: dict[str, str]) -> Identity | None:
    """Pod → ReplicaSet → Deployment when the ReplicaSet is not stored yet: the ReplicaSet is named
    ``<deployment>-<pod-template-hash>``, and the pod carries the hash as a label."""
    labels = pod.get("labels") or {}
    suffix = "-" + labels.get("pod-template-hash", "\0")
    if owner["kind"] != "ReplicaSet" or not owner["name"].endswith(suffix):
        return None
    workload = owner["name"][: -len(suffix)]
    return Identity(cluster, pod["namespace"], labels.get("app.kubernetes.io/name") or workload, "Deployment")


def _node(cluster: str, obs: Observation, before: dict[str, Any] | None, lookups: Lookups) -> Output:
    after = None if obs.type == "DELETED" else obs.state
    out = Output(state=after)
    was, now = health.node_not_ready(before), health.node_not_ready(after)
    if was != now:
        for ident in lookups.services_on_node(obs.state["name"]):
            out.signals.append(
                HealthSignal(
                    ident,
                    "NodeNotReady",
                    now,
                    obs.observed_at,
                    f"node/{obs.state['name']}",
                    f"node {obs.state['name']} Ready={(after or {}).get('ready', 'gone')}",
                )
            )
    return out


def _event(cluster: str, obs: Observation, before: dict[str, Any] | None, lookups: Lookups) -> Output:
    state = obs.state
    out = Output(state=None if obs.type == "DELETED" else state)
    inv = state.get("involved") or {}
    ns = inv.get("namespace") or state["namespace"]
    if inv.get("kind") == "Pod":
        ident = lookups.pod_identity(ns, inv.get("name", ""))
    else:
        ident = lookups.owner_identity(ns, inv.get("kind", ""), inv.get("name", ""))
    if ident is not None:
        signal = health.event_signal(ident, state, obs.type != "DELETED", obs.observed_at)
        if signal is not None:
            out.signals.append(signal)
    return out


def _job(cluster: str, obs: Observation, before: dict[str, Any] | None, lookups: Lookups) -> Output:
    """A Job of a CronJob that fails opens a JobFailed episode on the CronJob's service; the next Job of the
    same CronJob that completes ends it. One subject per owner, not per Job: a failed Job is kept (history
    limit) long after a later run succeeded, and its deletion says nothing about the CronJob's health."""
    after = None if obs.type == "DELETED" else obs.state
    out = Output(state=after)
    owner = obs.state.get("owner")
    if after is None or not owner:
        return out
    ident = lookups.owner_identity(obs.state["namespace"], owner["kind"], owner["name"])
    now, was = _job_outcome(after), _job_outcome(before)
    if ident is None or now == was or not now:
        return out
    failed = (after.get("status") or {}).get("conditions", {}).get("Failed", {})
    message = f"job {after['name']} failed" + (f": {failed['reason']}" if failed.get("reason") else "")
    out.signals.append(
        HealthSignal(
            ident,
            "JobFailed",
            now == "Failed",
            obs.observed_at,
            f"{owner['kind'].lower()}/{owner['name']}",
            message if now == "Failed" else f"job {after['name']} completed",
        )
    )
    return out


def _job_outcome(state: dict[str, Any] | None) -> str:
    """ "Failed", "Complete" or "" (running, or not seen) from the Job's conditions."""
    conditions = ((state or {}).get("status") or {}).get("conditions") or {}
    for outcome in ("Failed", "Complete"):
        if (conditions.get(outcome) or {}).get("status") == "True":
            return outcome
    return ""


def _keep(cluster: str, obs: Observation, before: dict[str, Any] | None, lookups: Lookups) -> Output:
    return Output(state=None if obs.type == "DELETED" else obs.state)


_HANDLERS = {
    **{k: _workload for k in WORKLOAD_KINDS},
    "ConfigMap": _data,
    "Secret": _data,
    "HorizontalPodAutoscaler": _hpa,
    "Pod": _pod,
    "Node": _node,
    "Event": _event,
    "Job": _job,
    "ReplicaSet": _keep,
    "Service": _keep,
    "Ingress": _keep,
}
