"""Dependency hints: which other services a workload names in its env, its ConfigMaps and annotations.

A name only becomes an edge when the cluster has a matching Service (or Ingress host), which the caller checks:
here we only extract candidate (host, namespace) pairs from text.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

DEPENDS_ON = "changetrack.io/depends-on"
# scheme://host:port/path, host:port, or a bare DNS-1123 name; the host and the path are captured
_HOST = re.compile(
    r"(?:[a-z][a-z0-9+.-]*://)?(?:[^@\s/]+@)?([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9-]+)*)(?::\d+)?(/[^\s?#]*)?\S*",
    re.IGNORECASE,
)
_CLUSTER_SUFFIXES = (".svc.cluster.local", ".svc")


def hosts_in(value: str) -> Iterator[str]:
    """Host names mentioned in a value: URLs, host:port pairs, comma-separated lists, or the whole value."""
    for host, _path in urls_in(value):
        yield host


def urls_in(value: str) -> Iterator[tuple[str, str]]:
    """(host, path) for every host mentioned in a value; the path is "/" when the value names none."""
    for token in re.split(r"[\s,;]+", value.strip()):
        if not token or len(token) > 300:
            continue
        match = _HOST.fullmatch(token)
        if match:
            yield match.group(1).lower(), match.group(2) or "/"


def ingress_routes(backends: list[dict[str, str]], host: str, path: str) -> list[dict[str, str]]:
    """The Ingress backends a request to ``host`` + ``path`` reaches: the rules of that host (exact, or a
    ``*.`` wildcard one label deep), longest matching path prefix first, as ingress controllers route.
    The default backend (no host) is left out: it catches whatever DNS sends, not a name anyone wrote."""
    parent = host.split(".", 1)[1] if "." in host else ""
    rules = [b for b in backends if b["host"] == host] or [b for b in backends if parent and b["host"] == f"*.{parent}"]
    best = -1
    chosen: list[dict[str, str]] = []
    for b in rules:
        prefix = (b.get("path") or "/").rstrip("/")
        if path == prefix or path.startswith(prefix + "/") or not prefix:
            if len(prefix) > best:
                best, chosen = len(prefix), [b]
            elif len(prefix) == best:
                chosen.append(b)
    return chosen


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
