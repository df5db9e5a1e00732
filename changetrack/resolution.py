"""Service resolution: the single place that maps what a source knows onto a ``Service``.

Order: alias rules (source-specific before any-source) → exact identity (cluster, namespace, name) → name
narrowed by namespace and cluster/env → repository. Authoritative sources (Kubernetes, the API) create a
service they name precisely; other sources may also name it loosely ("Checkout API" for ``checkout-api``,
``payments-service`` for ``payments``: see ``loose_spellings``) as long as exactly one service answers, and
otherwise leave the record unmapped rather than guess.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.db.models import Q

from changetrack.models import Cluster, Service, ServiceAlias
from integrations.base import ServiceHint


class AmbiguousService(Exception):
    """A bare name matches several services; ``candidates`` lists them."""

    def __init__(self, name: str, candidates: list[Service]):
        self.name = name
        self.candidates = candidates
        listed = ", ".join(s.qualified_name for s in candidates)
        super().__init__(
            f"service {name!r} is ambiguous: it matches {listed}; give namespace and cluster (an object, or the path cluster/namespace/name)"
        )


@dataclass
class ServiceResolver:
    """Resolves hints with a per-instance cache; build one per batch or request."""

    def __post_init__(self) -> None:
        self._cache: dict[tuple[str, ServiceHint], Service | None] = {}
        self._aliases: dict[tuple[str, str, str], int] | None = None
        self._clusters: dict[str, Cluster] | None = None

    def resolve(self, hint: ServiceHint, source: str = "") -> Service | None:
        """The service for ``hint`` or None (unmapped). Raises ``AmbiguousService`` only for creating sources."""
        key = (source, hint)
        if key not in self._cache:
            self._cache[key] = self._resolve(hint, source)
        return self._cache[key]

    def prime(self, hints: Iterable[ServiceHint], source: str) -> None:
        """Look up every fully qualified hint of a batch in one query instead of one each.

        Only hints naming cluster, namespace and name, and matched by no alias rule, are primed: for those the
        rules of ``resolve`` reduce to "the service with exactly that identity" (unique in the database).
        Everything else takes the usual path in ``resolve``."""
        exact: dict[tuple[int | None, str, str], list[ServiceHint]] = {}
        for hint in set(hints):
            if not (hint.name and hint.namespace and hint.cluster) or (source, hint) in self._cache:
                continue
            if self._alias(hint, source) is not None:
                continue
            cluster = self._cluster(hint)
            if cluster is not None:
                exact.setdefault((cluster.pk, hint.namespace, hint.name), []).append(hint)
        if not exact:
            return
        found = Service.objects.select_related("cluster").filter(
            cluster_id__in={c for c, _, _ in exact},
            namespace__in={n for _, n, _ in exact},
            name__in={n for _, _, n in exact},
        )
        for service in found:
            for hint in exact.get((service.cluster_id, service.namespace, service.name), []):
                self._cache[(source, hint)] = service

    def _resolve(self, hint: ServiceHint, source: str) -> Service | None:
        service_id = self._alias(hint, source)
        if service_id is not None:
            return Service.objects.select_related("cluster").get(pk=service_id)
        if hint.name:
            return self._by_name(hint)
        if hint.repository:
            matches = list(Service.objects.select_related("cluster").filter(repository__iexact=hint.repository)[:10])
            cluster = self._cluster(hint) if len(matches) > 1 else None
            if (
                cluster is not None
            ):  # one repository deployed to several clusters: the env picks one (GitHub deployments)
                matches = [s for s in matches if s.cluster_id == cluster.pk]
            return matches[0] if len(matches) == 1 else None
        return None

    def _alias(self, hint: ServiceHint, source: str) -> int | None:
        if self._aliases is None:
            self._aliases = {(a.source, a.key, a.value.lower()): a.service_id for a in ServiceAlias.objects.all()}
        if not self._aliases:
            return None
        pairs = [*hint.keys, ("name", hint.name), ("repo", hint.repository)]
        for scope in (source, ""):
            for k, v in pairs:
                if v and (scope, k, v.lower()) in self._aliases:
                    return self._aliases[(scope, k, v.lower())]
        return None

    def _cluster(self, hint: ServiceHint) -> Cluster | None:
        if self._clusters is None:
            self._clusters = {c.name.lower(): c for c in Cluster.objects.all()}
        if hint.cluster:
            return self._clusters.get(hint.cluster.lower())
        if hint.env:
            env = hint.env.lower()
            for cluster in self._clusters.values():
                if env in cluster.env_names or env == cluster.name.lower():
                    return cluster
        return None

    def _by_name(self, hint: ServiceHint) -> Service | None:
        found = self._by_spelling(hint, hint.name)
        if found is not None or hint.create:
            return found
        for spelling in loose_spellings(hint.name):
            found = self._by_spelling(hint, spelling, loose=True)
            if found is not None:
                return found
        return None

    def _by_spelling(self, hint: ServiceHint, name: str, loose: bool = False) -> Service | None:
        cluster = self._cluster(hint)
        qs = Service.objects.select_related("cluster").filter(**{"name__iexact" if loose else "name": name})
        if hint.namespace:
            qs = qs.filter(namespace=hint.namespace)
        if hint.cluster:
            qs = qs.filter(cluster=cluster) if cluster else qs.none()
        elif cluster is not None:
            narrowed = qs.filter(cluster=cluster)
            qs = narrowed if narrowed.exists() else qs
        matches = list(qs[:10])
        if len(matches) == 1:
            return matches[0]
        if len(matches) > 1:
            exact = [
                s
                for s in matches
                if s.namespace == hint.namespace and (s.cluster.name if s.cluster else "") == hint.cluster
            ]
            if len(exact) == 1:
                return exact[0]
            if hint.create and not loose:
                raise AmbiguousService(hint.name, matches)
            return None
        if not hint.create or loose:
            return None
        if hint.cluster and cluster is None:
            cluster, _ = Cluster.objects.get_or_create(name=hint.cluster)
            self._clusters = None
        service, _ = Service.objects.get_or_create(
            cluster=cluster if hint.cluster else None,
            namespace=hint.namespace,
            name=hint.name,
            defaults={"workload_kind": hint.workload_kind, "repository": hint.repository},
        )
        return service


def path_query(term: str) -> Q:
    """Services a search for ``shop/check`` or ``prod-us/shop/check`` means: the namespace (and cluster) exactly,
    the name in part. Matches nothing when the term is not such a path."""
    try:
        path = ServiceHint.from_path(term) if "/" in term else None
    except ValueError:
        path = None
    if path is None:
        return Q(pk__in=[])
    match = Q(namespace__iexact=path.namespace, name__icontains=path.name)
    return match & Q(cluster__name__iexact=path.cluster) if path.cluster else match


_NOT_ALNUM = re.compile(r"[^a-z0-9]+")
_NOISE_SUFFIXES = ("-service", "-svc")


def loose_spellings(name: str) -> list[str]:
    """Other ways a tool that does not know Kubernetes names may spell a service, most faithful first:
    any case ("Checkout" → ``checkout``), words joined by dashes ("Checkout API" → ``checkout-api``), and
    without a "-service"/"-svc" suffix (``payments-service`` → ``payments``). Matched without regard to case."""
    slug = _NOT_ALNUM.sub("-", name.lower()).strip("-")
    out = [name]
    if slug and slug != name.lower():
        out.append(slug)
    for suffix in _NOISE_SUFFIXES:
        if slug.endswith(suffix) and len(slug) > len(suffix):
            out.append(slug[: -len(suffix)])
    return out


def remap_unmapped(days: int = 30, limit: int = 20000) -> int:
    """Give unmapped changes and alerts a service now that rules may match them (after an alias or a service
    is added), then have the correlation engine rank what that makes relevant: a newly mapped alert gets its
    suspects, and a newly mapped change is looked at as a late arrival by the alerts it may have caused.
    Returns how many records were mapped."""
    from datetime import timedelta

    from django.utils import timezone

    from changetrack.correlation import triggers
    from changetrack.models import Alert, Change

    since = timezone.now() - timedelta(days=days)
    resolver = ServiceResolver()
    mapped: dict[str, list[tuple[int, Any]]] = {"change": [], "alert": []}
    for label, model, time_field in (("change", Change, "occurred_at"), ("alert", Alert, "started_at")):
        rows = model.objects.filter(service__isnull=True, **{f"{time_field}__gte": since}).only(
            "id", "source", "service_hint", time_field
        )
        for row in rows[:limit]:
            hint = hint_from_dict(row.service_hint)
            service = resolver.resolve(hint, row.source) if hint else None
            if service is not None:
                # why the time in the filter: Change is partitioned by it, so the update touches one partition;
                # why updated_at: a read compares it with when suspects were computed to see they are stale
                moment = getattr(row, time_field)
                model.objects.filter(pk=row.pk, **{time_field: moment}).update(
                    service=service, updated_at=timezone.now()
                )
                mapped[label].append((row.pk, moment))
    alert_ids = {pk for pk, _ in mapped["alert"]}
    if alert_ids:  # suspects computed while unmapped are empty; computing them anew is the point of mapping
        Alert.objects.filter(pk__in=alert_ids).update(suspects_computed_at=None)
    if alert_ids or mapped["change"]:
        triggers.on_stored(alert_ids, mapped["change"])
    return len(mapped["change"]) + len(mapped["alert"])


def hint_from_dict(data: dict) -> ServiceHint | None:  # type: ignore[type-arg]
    """A ``ServiceHint`` from its stored form (``ServiceHint.as_dict``); None for an empty or malformed one."""
    if not isinstance(data, dict) or not data:
        return None
    keys = tuple(tuple(kv) for kv in data.get("keys", []) if isinstance(kv, list | tuple) and len(kv) == 2)
    fields = {
        k: str(data[k]) for k in ("name", "namespace", "cluster", "env", "repository", "workload_kind") if data.get(k)
    }
    return ServiceHint(keys=keys, **fields)  # type: ignore[arg-type]
