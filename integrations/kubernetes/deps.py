"""Dependency hints: which other services a workload names in its env, its ConfigMaps and annotations.

A name only becomes an edge when the cluster has a matching Service (or Ingress host), which the caller checks:
here we only extract candidate (host, namespace) pairs from text.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

DEPENDS_ON = "changetrack.io/depends-on"
# scheme://host:port/path, host:port, or a bare DNS-1123 name; the host is captured
_HOST = re.compile(
    r"(?:[a-z][a-z0-9+.-]*://)?(?:[^@\s/]+@)?([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9-]+)*)(?::\d+)?(?:/\S*)?",
    re.IGNORECASE,
)
_CLUSTER_SUFFIXES = (".svc.cluster.local", ".svc")


def hosts_in(value: str) -> Iterator[str]:
    """Host names mentioned in a value: URLs, host:port pairs, comma-separated lists, or the whole value."""
    for token in re.split(r"[\s,;]+", value.strip()):
        if not token or len(token) > 300:
            continue
        match = _HOST.fullmatch(token)
        if match:
            yield match.group(1).lower()


def service_ref(host: str, namespace: str) -> tuple[str, str] | None:
    """``svc``, ``svc.ns``, ``svc.ns.svc``, ``svc.ns.svc.cluster.local`` → (svc, ns); other hosts → None.

    A bare name without dots resolves in the caller's namespace (that is how cluster DNS search paths work)."""
    for suffix in _CLUSTER_SUFFIXES:
        if host.endswith(suffix):
            host = host[: -len(suffix)]
            break
    parts = host.split(".")
    if len(parts) == 1:
        return parts[0], namespace
    if len(parts) == 2:
        return parts[0], parts[1]
    return None


def env_values(state: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """(env var name, value) for every plain (non-redacted) env value of a workload's containers."""
    template = (state.get("spec") or {}).get("template") or {}
    for group in ("containers", "initContainers"):
        for container in (template.get(group) or {}).values():
            for name, value in (container.get("env") or {}).items():
                if isinstance(value, str) and value:
                    yield name, value


def declared(state: dict[str, Any]) -> list[str]:
    value = (state.get("annotations") or {}).get(DEPENDS_ON, "")
    return [v.strip() for v in value.split(",") if v.strip()]


def selector_matches(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())
