"""Health signals from Pods, Nodes and Warning events. Pure: states in, signals out.

A signal says "reason R is active (or no longer active) for subject S of service X". The store coalesces
signals into one ``HealthEpisode`` per (service, reason): open while any subject has the reason.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

BAD_WAITING = frozenset(
    {
        "CrashLoopBackOff",
        "ImagePullBackOff",
        "ErrImagePull",
        "CreateContainerConfigError",
        "CreateContainerError",
        "InvalidImageName",
        "RunContainerError",
    }
)
WARNING_REASONS = frozenset(
    {"FailedScheduling", "FailedMount", "BackOff", "Unhealthy", "FailedCreate", "FailedAttachVolume", "Evicted"}
)
SEVERITY = {
    "CrashLoopBackOff": "error",
    "OOMKilled": "error",
    "ImagePullBackOff": "error",
    "ErrImagePull": "error",
    "CreateContainerConfigError": "error",
    "NodeNotReady": "error",
}
BURST_RESTARTS = 3
BURST_WINDOW = timedelta(minutes=10)


@dataclass(frozen=True)
class Identity:
    """A service as Kubernetes names it: cluster, namespace, name (and the workload kind)."""

    cluster: str
    namespace: str
    name: str
    workload_kind: str = ""


@dataclass(frozen=True)
class HealthSignal:
    service: Identity
    reason: str
    active: bool
    at: datetime
    subject: str  # "pod/web-7d4-abc", "node/n1", "event/web-7d4-abc"
    message: str = ""

    @property
    def severity(self) -> str:
        return SEVERITY.get(self.reason, "warning")


def pod_reasons(state: dict[str, Any] | None) -> set[str]:
    """The bad-health reasons a pod shows right now (restart bursts are tracked separately)."""
    if not state:
        return set()
    reasons: set[str] = set()
    for c in state.get("containers") or []:
        if c["waiting"] in BAD_WAITING:
            reasons.add("ImagePullBackOff" if c["waiting"] == "ErrImagePull" else c["waiting"])
        if c["terminated"] == "OOMKilled" or (c["last_terminated"] == "OOMKilled" and not c["ready"]):
            reasons.add("OOMKilled")
    if state.get("reason") == "Evicted":
        reasons.add("Evicted")
    if state.get("unschedulable"):
        reasons.add("Unschedulable")
    # Failing readiness is taken from the kubelet's "Unhealthy" Warning events (repeated while the probe
    # fails), not from Ready=False here: every pod passes through Ready=False while it starts.
    return reasons


def restart_times(before: dict[str, Any] | None, after: dict[str, Any], now: datetime) -> list[str]:
    """Times (ISO) of restarts seen within the burst window, carried in the pod's state."""
    kept = [t for t in (before or {}).get("restart_times") or [] if datetime.fromisoformat(t) > now - BURST_WINDOW]
    old = {c["name"]: c["restarts"] for c in (before or {}).get("containers") or []}
    if before:
        for c in after.get("containers") or []:
            kept.extend([now.isoformat()] * max(0, min(c["restarts"] - old.get(c["name"], c["restarts"]), 10)))
    return kept[-20:]


def pod_signals(
    service: Identity, before: dict[str, Any] | None, after: dict[str, Any] | None, now: datetime
) -> list[HealthSignal]:
    """Signals for the reasons that started, continue or ended on one pod (``after`` None: pod deleted)."""
    old = pod_reasons(before) | (
        {"RestartBurst"} if len((before or {}).get("restart_times") or []) >= BURST_RESTARTS else set()
    )
    new = pod_reasons(after) | (
        {"RestartBurst"} if len((after or {}).get("restart_times") or []) >= BURST_RESTARTS else set()
    )
    name = (after or before or {}).get("name", "")
    subject = f"pod/{name}"
    out = [HealthSignal(service, r, True, now, subject, _pod_message(after, r)) for r in sorted(new)]
    out += [HealthSignal(service, r, False, now, subject) for r in sorted(old - new)]
    return out


def _pod_message(state: dict[str, Any] | None, reason: str) -> str:
    for c in (state or {}).get("containers") or []:
        if reason in (c["waiting"], c["terminated"], c["last_terminated"]):
            return f"container {c['name']}: {reason} (restarts {c['restarts']})"
    return reason


def node_not_ready(state: dict[str, Any] | None) -> bool:
    return state is not None and bool(state) and state.get("ready") != "True"


def event_signal(service: Identity, state: dict[str, Any], active: bool, now: datetime) -> HealthSignal | None:
    if state.get("type") != "Warning" or state.get("reason") not in WARNING_REASONS:
        return None
    at = _parse(state.get("last")) or now
    return HealthSignal(
        service, state["reason"], active, at, f"event/{state['involved']['name']}", state.get("message", "")
    )


def _parse(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
