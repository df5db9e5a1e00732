"""Rollout progress of a deploy change: revision, completed or failed, duration — updated in place.

The deploy change keeps its external id; each observation of the workload's status may move it from
in_progress to succeeded or failed (``ProgressDeadlineExceeded``). One change per rollout, not one per
ReplicaSet update. https://kubernetes.io/docs/concepts/workloads/controllers/deployment/#deployment-status
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from integrations.base import ChangeRecord, ServiceHint
from integrations.kubernetes import SOURCE


def _outcome(rollout: dict[str, Any], state: dict[str, Any]) -> tuple[str, str]:
    """(status, time) of the rollout as this state shows it."""
    status = state.get("status") or {}
    conditions = status.get("conditions") or {}
    progressing = conditions.get("Progressing") or {}
    if progressing.get("reason") == "ProgressDeadlineExceeded":
        return "failed", progressing.get("time", "")
    if (status.get("observedGeneration") or 0) < rollout["generation"]:
        return "in_progress", ""
    want = (state.get("spec") or {}).get("replicas")
    kind = state.get("kind")
    if kind == "DaemonSet":
        desired = status.get("desiredNumberScheduled")
        done = desired is not None and status.get("updatedNumberScheduled") == desired == status.get("numberAvailable")
    elif kind == "StatefulSet":
        done = status.get("updatedReplicas", 0) == want and status.get("currentRevision") == status.get(
            "updateRevision"
        )
    else:
        done = (
            status.get("updatedReplicas", 0) == want
            and status.get("availableReplicas", 0) >= (want or 0)
            and status.get("replicas", 0) == want
        )
        if want == 0:
            done = True
    if done:
        return "succeeded", progressing.get("time", "") if progressing.get("reason") == "NewReplicaSetAvailable" else ""
    return "in_progress", ""


def progress(rollout: dict[str, Any], state: dict[str, Any]) -> dict[str, Any] | None:
    """The rollout updated from ``state``, or None when nothing about it changed."""
    record = dict(rollout["record"])
    status, at = _outcome(rollout, state)
    revision = state.get("revision", "") or record["details"].get("revision", "")
    if status == record["status"] and revision == record["details"].get("revision", ""):
        return None
    details = dict(record["details"])
    details["revision"] = revision
    roll = dict(details.get("rollout") or {})
    roll["status"] = status
    if status != "in_progress":
        ended = at or state.get("observed_at") or ""
        started = datetime.fromisoformat(roll["started_at"])
        try:
            end = datetime.fromisoformat(ended.replace("Z", "+00:00")) if ended else None
        except ValueError:
            end = None
        roll["completed_at" if status == "succeeded" else "failed_at"] = end.isoformat() if end else ""
        roll["duration_seconds"] = max(0.0, (end - started).total_seconds()) if end else None
        record["ended_at"] = end.isoformat() if end else None
        if status == "failed":
            roll["reason"] = "ProgressDeadlineExceeded"
            record["severity"] = "error"
    details["rollout"] = roll
    record["details"] = details
    record["status"] = status
    return {**rollout, "record": record}


def rollout_record(rollout: dict[str, Any]) -> ChangeRecord:
    r = rollout["record"]
    ended = r.get("ended_at")
    return ChangeRecord(
        source=SOURCE,
        external_id=r["external_id"],
        kind=r["kind"],
        occurred_at=datetime.fromisoformat(r["occurred_at"]),
        summary=r["summary"],
        service=ServiceHint(**{k: v for k, v in r["service"].items() if k != "keys"}, create=True),
        actor=r["actor"],
        status=r["status"],
        ended_at=datetime.fromisoformat(ended) if ended else None,
        diff=tuple(r["diff"]),
        details=r["details"],
        commit_sha=r["commit_sha"],
        repository=r["repository"],
        severity=r["severity"],
    )
