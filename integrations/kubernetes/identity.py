"""Who an object belongs to (an ``Identity``, the ``ServiceHint`` storage resolves) and the deterministic ids and
digests translation derives from an object (``<cluster>/<kind>/<ns>/<name>``, the pod template's hash)."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from integrations.base import ServiceHint
from integrations.kubernetes.health import Identity


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
