"""Workloads (Deployments, StatefulSets, DaemonSets, CronJobs): a new pod template is a deploy or a rollback whose
rollout is followed to its end, a replica change a scale (or an autoscale), anything else a config change."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from integrations.base import ChangeRecord
from integrations.kubernetes import SOURCE, commits
from integrations.kubernetes.dependencies import dependencies
from integrations.kubernetes.diff import actor_for, images, replicas_changed, spec_diff, template_changed
from integrations.kubernetes.health import Identity
from integrations.kubernetes.identity import base_id, hint, identity, template_hash
from integrations.kubernetes.observation import Lookups, Observation, Output, plain_change, when
from integrations.kubernetes.rollout import progress, rollout_record


def workload(cluster: str, obs: Observation, before: dict[str, Any] | None, lookups: Lookups) -> Output:
    """A workload observed: its deletion, a deploy/rollback/scale/config change, rollout progress, its edges."""
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
        _follow_rollout(out, state, after, obs)
    out.state = state
    return out


def _follow_rollout(out: Output, state: dict[str, Any], after: dict[str, Any], obs: Observation) -> None:
    """Advance the rollout ``state`` follows; its new record replaces any of the same id in ``out``, and a
    finished rollout is no longer followed."""
    updated = progress(state["rollout"], {**after, "observed_at": obs.observed_at.isoformat()})
    if updated is None:
        return
    state["rollout"] = updated
    out.records = [
        r
        for r in out.records
        if not (isinstance(r, ChangeRecord) and r.external_id == updated["record"]["external_id"])
    ]
    out.records.append(rollout_record(updated))
    if updated["record"]["status"] in ("succeeded", "failed"):
        state["rollout"] = None


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
            ident, ext, "deploy", f"{name} created", who, when(at, obs.observed_at), None, after, [], lookups
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
            when(at, obs.observed_at),
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
    summary = f"{name} configuration changed ({', '.join(d['path'] for d in diff[:3])})"
    return plain_change(ident, ext, "config", summary, actor=(who, at), observed_at=obs.observed_at, diff=diff)


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
        occurred_at=when(at, obs.observed_at),
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
