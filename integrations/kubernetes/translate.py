"""One observation (an object's new normalised state) + what we last stored → records, health signals, state.

Pure: lookups into other stored objects (which workloads mount this ConfigMap, what an HPA wants, which
workload a Service selects) go through the ``Lookups`` protocol, implemented against the database by the
caller. External ids are deterministic (``<cluster>/<kind>/<ns>/<name>/<generation>``), so replaying an
observation after a restart or a relist updates the same rows and never duplicates a change.
"""

from __future__ import annotations

from typing import Any

from integrations.kubernetes import config, signals, workloads
from integrations.kubernetes.dependencies import dependencies
from integrations.kubernetes.identity import base_id, hint, identity, template_hash
from integrations.kubernetes.observation import Lookups, Observation, Output
from integrations.kubernetes.resources import WORKLOAD_KINDS

# re-exported: the collector's storage and lookups import these from here
__all__ = [
    "Lookups",
    "Observation",
    "Output",
    "base_id",
    "dependencies",
    "hint",
    "identity",
    "template_hash",
    "translate",
]


def translate(cluster: str, obs: Observation, before: dict[str, Any] | None, lookups: Lookups) -> Output:
    kind = obs.state["kind"]
    if obs.type == "DELETED" and before is not None:
        # a relist only knows the key of a vanished object: the rest comes from what we stored
        obs = Observation(obs.type, {**before, **{k: v for k, v in obs.state.items() if v}}, obs.observed_at)
    handler = _HANDLERS.get(kind)
    if handler is None:
        return Output(state=None if obs.type == "DELETED" else obs.state)
    return handler(cluster, obs, before, lookups)


def _keep(cluster: str, obs: Observation, before: dict[str, Any] | None, lookups: Lookups) -> Output:
    return Output(state=None if obs.type == "DELETED" else obs.state)


_HANDLERS = {
    **{k: workloads.workload for k in WORKLOAD_KINDS},
    "ConfigMap": config.data,
    "Secret": config.data,
    "HorizontalPodAutoscaler": config.hpa,
    "Pod": signals.pod,
    "Node": signals.node,
    "Event": signals.event,
    "Job": signals.job,
    "ReplicaSet": _keep,
    "Service": _keep,
    "Ingress": _keep,
}
