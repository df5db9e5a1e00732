"""ConfigMaps, Secrets and HorizontalPodAutoscalers: a change is recorded on every workload that uses the object
(or on the object itself when nothing does)."""

from __future__ import annotations

from typing import Any

from integrations.base import ChangeRecord, ServiceHint
from integrations.kubernetes import SOURCE
from integrations.kubernetes.diff import actor_for, spec_diff
from integrations.kubernetes.health import Identity
from integrations.kubernetes.identity import base_id, hint
from integrations.kubernetes.observation import Lookups, Observation, Output, plain_change, when


def data(cluster: str, obs: Observation, before: dict[str, Any] | None, lookups: Lookups) -> Output:
    """A ConfigMap or Secret whose data changed: a change on each workload that uses it."""
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
        "occurred_at": when(at, obs.observed_at),
        "actor": who,
        "diff": tuple(diff),
    }
    out.records += _data_records(cluster, after, users, base, summary, common)
    return out


def _data_records(
    cluster: str,
    obj: dict[str, Any],
    users: list[tuple[Identity, str, str]],
    base: str,
    summary: str,
    common: dict[str, Any],
) -> list[ChangeRecord]:
    """One change per workload using ``obj``; one on the object itself (keyed by kind and path) when none does."""
    if not users:
        service = ServiceHint(
            namespace=obj["namespace"],
            cluster=cluster,
            keys=((f"k8s_{obj['kind'].lower()}", f"{obj['namespace']}/{obj['name']}"),),
        )
        return [
            ChangeRecord(
                source=SOURCE,
                external_id=base,
                summary=summary,
                details={"workloads": []},
                service=service,
                **common,
            )
        ]
    return [
        ChangeRecord(
            source=SOURCE,
            external_id=f"{base}/{wkind}/{wname}",
            summary=f"{summary}, used by {wkind} {wname}",
            service=hint(ident),
            details={"object": f"{obj['kind']}/{obj['name']}", "workload": wname},
            **common,
        )
        for ident, wkind, wname in users
    ]


def hpa(cluster: str, obs: Observation, before: dict[str, Any] | None, lookups: Lookups) -> Output:
    """An HPA whose spec changed (bounds, target): a scale change on the workload it scales."""
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
    summary = f"HPA {after['name']} {verb} (min {spec.get('minReplicas')}, max {spec.get('maxReplicas')})"
    out.records.append(
        plain_change(ident, ext, "scale", summary, actor=(who, at), observed_at=obs.observed_at, diff=diff)
    )
    return out
