"""Dependency edges of a workload: the services its env vars, its ConfigMaps and its ``depends-on`` annotation name."""

from __future__ import annotations

from typing import Any

from integrations.base import DependencyRecord, Record
from integrations.kubernetes import deps
from integrations.kubernetes.health import Identity
from integrations.kubernetes.identity import hint
from integrations.kubernetes.observation import Lookups


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
