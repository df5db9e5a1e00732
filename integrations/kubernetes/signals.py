"""Pods, Nodes, Events and Jobs: no changes, only health signals (episodes that open and close on a service)."""

from __future__ import annotations

from typing import Any

from integrations.kubernetes import health
from integrations.kubernetes.health import HealthSignal, Identity
from integrations.kubernetes.observation import Lookups, Observation, Output


def pod(cluster: str, obs: Observation, before: dict[str, Any] | None, lookups: Lookups) -> Output:
    """A pod: restart times kept in its state, health signals (crash loops, OOM kills...) on its owner's service."""
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


def node(cluster: str, obs: Observation, before: dict[str, Any] | None, lookups: Lookups) -> Output:
    """A node turning NotReady (or back): a signal on every service with pods on it."""
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


def event(cluster: str, obs: Observation, before: dict[str, Any] | None, lookups: Lookups) -> Output:
    """A Warning Event about a pod or a workload (reasons in ``health.WARNING_REASONS``): a signal on its service."""
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


def job(cluster: str, obs: Observation, before: dict[str, Any] | None, lookups: Lookups) -> Output:
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
