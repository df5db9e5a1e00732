"""Database-backed ``Lookups`` for ``integrations.kubernetes.translate``: one instance per batch, cached."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from django.db.models import Q

from changetrack.models import KubeObject, Service
from integrations.kubernetes import deps
from integrations.kubernetes.health import Identity
from integrations.kubernetes.resources import WORKLOAD_KINDS
from integrations.kubernetes.translate import identity


class DbLookups:
    """Reads other stored objects of ``cluster``. ``pending`` holds states written earlier in the same batch
    (not yet saved) so an object seen a moment ago is found."""

    def __init__(self, cluster: str, pending: dict[tuple[str, str, str], dict[str, Any] | None]):
        self.cluster = cluster
        self.pending = pending
        self._rows: dict[tuple[str, str, str], dict[str, Any] | None] = {}
        self._workloads: dict[str, list[dict[str, Any]]] = {}
        self._services: dict[str, dict[str, dict[str, str]]] = {}
        self._hpas: dict[str, dict[str, dict[str, Any] | None]] = {}
        # HPA states anywhere in the batch: the HPA controller writes the scale before its own status, so the
        # replica change usually comes first and the decision that explains it a moment later
        self.batch_hpas: dict[tuple[str, str, str], dict[str, Any]] = {}
        self.owner_identity = lru_cache(maxsize=4096)(self._owner_identity)  # type: ignore[method-assign]
        self.hosts = lru_cache(maxsize=4096)(self._hosts)  # type: ignore[method-assign]
        self.repository = lru_cache(maxsize=1024)(self._repository)  # type: ignore[method-assign]

    def prefetch(self, keys: set[tuple[str, str, str]]) -> None:
        """Load many (kind, namespace, name) states in one query per kind."""
        by_kind: dict[str, set[str]] = {}
        for kind, _ns, name in keys - set(self._rows):
            by_kind.setdefault(kind, set()).add(name)
        for kind, names in by_kind.items():
            found = KubeObject.objects.filter(cluster=self.cluster, kind=kind, name__in=list(names)).values_list(
                "namespace", "name", "state"
            )
            for ns, name, state in found:
                self._rows[(kind, ns, name)] = state
        for key in keys:
            self._rows.setdefault(key, None)

    def prefetch_owners(self, states: list[dict[str, Any]]) -> None:
        """Pods and Jobs of a batch: load their owners, then the owners' owners, in two queries per kind."""
        level = {(s["owner"]["kind"], s["namespace"], s["owner"]["name"]) for s in states if s.get("owner")}
        for _ in range(2):
            level = {k for k in level if k[0] in ("ReplicaSet", "Job", *WORKLOAD_KINDS)}
            if not level:
                return
            self.prefetch(level)
            level = {
                (st["owner"]["kind"], ns, st["owner"]["name"])
                for (k, ns, n) in level
                if (st := self._rows.get((k, ns, n))) and st.get("owner")
            }

    def state(self, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        key = (kind, namespace, name)
        if key in self.pending:
            return self.pending[key]
        if key not in self._rows:
            self.prefetch({key})
        return self._rows[key]

    def _owner_identity(self, namespace: str, kind: str, name: str) -> Identity | None:
        if kind in WORKLOAD_KINDS:
            state = self.state(kind, namespace, name)
            return identity(self.cluster, state) if state else Identity(self.cluster, namespace, name, kind)
        if kind in ("ReplicaSet", "Job"):
            state = self.state(kind, namespace, name)
            owner = (state or {}).get("owner")
            if owner:
                return self._owner_identity(namespace, owner["kind"], owner["name"])
        return None

    def referencing(self, namespace: str, ref: str, name: str) -> list[tuple[Identity, str, str]]:
        out = []
        for state in self._namespace_workloads(namespace):
            if name in (state.get("refs") or {}).get(ref, []):
                out.append((identity(self.cluster, state), state["kind"], state["name"]))
        return out

    def _namespace_workloads(self, namespace: str) -> list[dict[str, Any]]:
        if namespace not in self._workloads:
            rows = KubeObject.objects.filter(cluster=self.cluster, namespace=namespace, kind__in=list(WORKLOAD_KINDS))
            found = {(r.kind, r.name): r.state for r in rows}
            for (kind, ns, name), state in self.pending.items():
                if ns == namespace and kind in WORKLOAD_KINDS:
                    found[(kind, name)] = state  # type: ignore[assignment]
            self._workloads[namespace] = [s for s in found.values() if s]
        return self._workloads[namespace]

    def hpa_desired(self, namespace: str, kind: str, name: str) -> int | None:
        """What the HPA targeting this workload wants, as of the end of the current batch."""
        if namespace not in self._hpas:  # one query per namespace and batch, not one per scale event
            rows = KubeObject.objects.filter(cluster=self.cluster, namespace=namespace, kind="HorizontalPodAutoscaler")
            self._hpas[namespace] = dict(rows.values_list("name", "state"))
        hpas = {**self._hpas[namespace]}
        for source in (self.pending, self.batch_hpas):
            for (k, ns, n), state in source.items():
                if k == "HorizontalPodAutoscaler" and ns == namespace:
                    hpas[n] = state
        for state in hpas.values():
            target = (state or {}).get("spec", {}).get("scaleTargetRef") or {}
            if target.get("name") == name and target.get("kind", kind) == kind:
                return (state.get("status") or {}).get("desiredReplicas")  # type: ignore[union-attr]
        return None

    def _selectors(self, namespace: str) -> dict[str, dict[str, str]]:
        if namespace not in self._services:
            rows = KubeObject.objects.filter(cluster=self.cluster, namespace=namespace, kind="Service")
            self._services[namespace] = {r.name: (r.state.get("spec") or {}).get("selector") or {} for r in rows}
        return self._services[namespace]

    def _hosts(self, namespace: str, host: str, path: str) -> list[tuple[Identity, str]]:
        """Workloads a host name reaches: through a Service (``svc``, ``svc.ns``, ``svc.ns.svc...``), or through
        the Ingress rules of that host and path to their backend Services (any namespace)."""
        ref = deps.service_ref(host, namespace)
        if ref is not None and ref[0] in self._selectors(ref[1]):
            return [(w, "") for w in self._selected(ref[1], self._selectors(ref[1])[ref[0]])]
        if "." not in host:
            return []
        out: list[tuple[Identity, str]] = []
        for ing_ns, ing_name, backends in self._ingresses(host):
            for backend in deps.ingress_routes(backends, host, path):
                selector = self._selectors(ing_ns).get(backend["service"])
                via = (
                    f" via ingress {ing_name} ({backend['host']}{backend['path'] or ''} → service {backend['service']})"
                )
                out += [(w, via) for w in self._selected(ing_ns, selector or {})]
        return out

    def _ingresses(self, host: str) -> list[tuple[str, str, list[dict[str, str]]]]:
        """Ingresses with a rule for ``host`` or for its one-label wildcard, in any namespace."""
        hosts = [host] + ([f"*.{host.split('.', 1)[1]}"] if host.count(".") >= 2 else [])
        match = Q()
        for h in hosts:
            match |= Q(state__spec__backends__contains=[{"host": h}])
        rows = KubeObject.objects.filter(match, cluster=self.cluster, kind="Ingress").values_list(
            "namespace", "name", "state"
        )
        return [(ns, name, state["spec"]["backends"]) for ns, name, state in rows]

    def _selected(self, namespace: str, selector: dict[str, str]) -> list[Identity]:
        """Workloads whose pod template labels match a Service selector."""
        return [
            identity(self.cluster, s)
            for s in self._namespace_workloads(namespace)
            if deps.selector_matches(selector, ((s.get("spec") or {}).get("template") or {}).get("labels") or {})
        ]

    def configmap(self, namespace: str, name: str) -> dict[str, Any] | None:
        return self.state("ConfigMap", namespace, name)

    def pod_identity(self, namespace: str, name: str) -> Identity | None:
        state = self.state("Pod", namespace, name)
        if state and state.get("service"):
            return Identity(self.cluster, namespace, state["service"])
        return None

    def services_on_node(self, node: str) -> list[Identity]:
        rows = (
            KubeObject.objects.filter(cluster=self.cluster, kind="Pod", node=node)
            .exclude(service="")
            .values_list("namespace", "service")
            .distinct()
        )
        return [Identity(self.cluster, ns, svc) for ns, svc in rows]

    def _repository(self, ident: Identity) -> str:
        repo = (
            Service.objects.filter(cluster__name=ident.cluster, namespace=ident.namespace, name=ident.name)
            .values_list("repository", flat=True)
            .first()
        )
        return repo or ""
