"""The service graph seen from one alerting service: who is related, how far, in which direction, and why.

``Dependency(service=A, depends_on=B)`` means A calls (consumes from) B. For an alert on A:

- ``down``: B is a dependency of A, directly or transitively (A → B → C). A change on B is the classic cause.
- ``up``: B depends on A (B → A). A change on B can overload A (the reverse case); ranked lower.
- ``mixed``: related through a path that changes direction (siblings sharing a dependency); weak.
- ``none``: no known edge at all, but the same team or namespace (``unlinked``): graphs miss edges no one
  declared and no tracing saw, so such a service is admitted with a low prior and labelled "no known dependency".

Several edges between the same pair (declared + kubernetes + learned) merge into one with the highest
confidence and all their evidence.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.db import connection
from django.db.models import Q
from django.utils import timezone

from changetrack.models import Change, Dependency

DOWN, UP, MIXED, SELF, NONE = "down", "up", "mixed", "self", "none"
MAX_DEPTH = 3
#: graph weight by (direction, hops); multiplied by the path's edge confidence (softened)
WEIGHTS: dict[str, tuple[float, ...]] = {
    SELF: (1.0,),
    DOWN: (1.0, 0.85, 0.65, 0.5),
    UP: (1.0, 0.5, 0.35, 0.25),
    MIXED: (1.0, 0.3, 0.2, 0.12),
    NONE: (0.15, 0.15, 0.15, 0.15),
}
UNLINKED_MAX = 60  # services admitted without a known edge, at most


@dataclass(frozen=True)
class Edge:
    """One merged edge: ``service`` depends on ``depends_on``."""

    service_id: int
    depends_on_id: int
    confidence: float
    provenances: tuple[str, ...]
    evidence: tuple[str, ...]


@dataclass
class Relation:
    """How a service relates to the alerting one: ``path`` of service ids from it, the edges walked
    (each as (edge, walked_forward)), direction class and the resulting graph weight in [0, 1]."""

    service_id: int
    hops: int
    direction: str
    path: list[int]
    steps: list[tuple[Edge, bool]] = field(default_factory=list)
    #: for ``none``: what the services share ("same team (payments)")
    basis: str = ""
    # computed on first read; not functools.cached_property, which takes a lock on every read in Python 3.11
    # (a walk over a hub's neighbourhood reads these a hundred thousand times)
    _confidence: float | None = field(default=None, init=False, repr=False, compare=False)
    _weight: float | None = field(default=None, init=False, repr=False, compare=False)

    @property
    def confidence(self) -> float:
        if self._confidence is None:
            c = 1.0
            for edge, _ in self.steps:
                c *= edge.confidence
            self._confidence = c
        return self._confidence

    @property
    def weight(self) -> float:
        if self._weight is None:
            base = WEIGHTS[self.direction][min(self.hops, MAX_DEPTH)]
            # why softened: a low-confidence learned edge still says more than no edge at all
            self._weight = base * (0.4 + 0.6 * max(0.0, min(1.0, self.confidence)))
        return self._weight


def merge_edges(rows: Iterable[tuple[int, int, str, str, float]]) -> dict[tuple[int, int], Edge]:
    """(service_id, depends_on_id, provenance, evidence, confidence) rows → one Edge per ordered pair."""
    acc: dict[tuple[int, int], list[tuple[str, str, float]]] = {}
    for src, dst, prov, evidence, conf in rows:
        acc.setdefault((src, dst), []).append((prov, evidence, float(conf)))
    out = {}
    for (src, dst), items in acc.items():
        items.sort(key=lambda x: -x[2])
        out[(src, dst)] = Edge(src, dst, items[0][2], tuple(p for p, _, _ in items), tuple(e for _, e, _ in items if e))
    return out


#: the graph's version: edge count, last update, highest id, newest first sighting (any insert, update or delete
#: changes one of them)
Stamp = tuple[int, datetime | None, int, datetime | None]
STAMP_SQL = (
    "SELECT count(id), max(last_seen_at), COALESCE(max(id), 0), max(first_seen_at) FROM changetrack_dependency;\n"
)

#: services sharing the team of ``service``, or its namespace in the same cluster (``Service`` order: name, namespace)
NEAR_SQL = """
SELECT s.id, s.team, s.namespace, me.team FROM changetrack_service me JOIN changetrack_service s
  ON (me.team <> '' AND s.team = me.team)
  OR (me.namespace <> '' AND s.namespace = me.namespace AND s.cluster_id IS NOT DISTINCT FROM me.cluster_id)
WHERE me.id = %(service)s
ORDER BY s.name, s.namespace
LIMIT %(limit)s;
"""

#: the changes responders confirmed as the cause of an alert on ``service`` (``CONFIRMED_DAYS``): their services are
#: linked to it by an edge no one declared and no trace saw. The changes' services are looked up only when there
#: are any (a join with the change table, partitioned by day, costs more to plan than the rest of a ranking)
CONFIRMED_SQL = """
SELECT f.change_id, f.alert_id, f.created_at FROM changetrack_alert a
JOIN changetrack_feedback f ON f.alert_id = a.id AND f.verdict = 'caused' AND f.created_at >= %(since)s
WHERE a.service_id = %(service)s
ORDER BY f.created_at DESC LIMIT 500;
"""
CONFIRMED_DAYS = 180
Confirmed = tuple[int, int, datetime]  # change id, alert id, when confirmed

_cache: tuple[Stamp, dict[int, list[tuple[int, bool, Edge]]]] | None = None
#: relations by (service, depth) for the cached graph; cleared whenever the graph changes
_relations: dict[tuple[int, int], dict[int, Relation]] = {}
RELATIONS_CACHED = 1024


def _stamp() -> Stamp:
    with connection.cursor() as cur:
        cur.execute(STAMP_SQL)
        return _key(cur.fetchone())


def _key(row: tuple[int, datetime | None, int, datetime | None]) -> Stamp:
    return (row[0], row[1], row[2], row[3])


def _adjacency(stamp: Stamp | None = None) -> dict[int, list[tuple[int, bool, Edge]]]:
    """service id → [(other service, walked forward?, edge)], for the whole graph, cached in the process and
    checked against the graph's stamp (one aggregate query per call, unless the caller read ``stamp`` already), so
    a ranking never walks the graph with one query per hop."""
    global _cache
    key = _stamp() if stamp is None else stamp
    if _cache is not None and _cache[0] == key:
        return _cache[1]
    edges = merge_edges(
        Dependency.objects.values_list("service_id", "depends_on_id", "provenance", "evidence", "confidence")
    )
    adjacent: dict[int, list[tuple[int, bool, Edge]]] = {}
    for (src, dst), edge in edges.items():
        adjacent.setdefault(src, []).append((dst, True, edge))
        adjacent.setdefault(dst, []).append((src, False, edge))
    _cache = (key, adjacent)
    _relations.clear()
    return adjacent


def new_edges_since(when: datetime, service_ids: Iterable[int]) -> bool:
    """True when an edge touching one of ``service_ids`` first appeared after ``when`` (a dependency declared
    or discovered since, which can bring new candidates or change a path). Free when no edge is that new."""
    _adjacency()
    newest = _cache[0][3] if _cache is not None else None
    if newest is None or newest <= when:
        return False
    ids = list(service_ids)
    return (
        Dependency.objects.filter(first_seen_at__gt=when)
        .filter(Q(service_id__in=ids) | Q(depends_on_id__in=ids))
        .exists()
    )


def _step_direction(current: str, forward: bool) -> str:
    step = DOWN if forward else UP
    if current == SELF:
        return step
    return current if current == step else MIXED


def relations(service_id: int, depth: int = MAX_DEPTH, stamp: Stamp | None = None) -> dict[int, Relation]:
    """Every service within ``depth`` hops of ``service_id`` (either direction) with its best relation
    (``stamp``: the graph's, if the caller read it).

    A breadth-first walk over (service, direction class) states on the cached graph; for each service the
    relation with the highest weight wins (a 2-hop downstream path beats a 1-hop sibling, for instance)."""
    depth = max(0, min(depth, MAX_DEPTH))
    adjacent = _adjacency(stamp)
    # why cached: a hub's neighbourhood is hundreds of services and the same alert asks several times (rank,
    # staleness check, read); callers treat the result as read-only
    cached = _relations.get((service_id, depth))
    if cached is not None:
        return cached
    if len(_relations) >= RELATIONS_CACHED:
        _relations.clear()
    _relations[(service_id, depth)] = best = _walk(adjacent, service_id, depth)
    return best


def _walk(adjacent: dict[int, list[tuple[int, bool, Edge]]], service_id: int, depth: int) -> dict[int, Relation]:
    best: dict[int, Relation] = {service_id: Relation(service_id, 0, SELF, [service_id])}
    frontier: dict[tuple[int, str], Relation] = {(service_id, SELF): best[service_id]}
    seen_states = {(service_id, SELF)}
    for _hop in range(depth):
        if not frontier:
            break
        nxt: dict[tuple[int, str], Relation] = {}
        for (sid, _direction), rel in frontier.items():
            for other, forward, edge in adjacent.get(sid, ()):
                if other in rel.path:
                    continue
                direction = _step_direction(rel.direction, forward)
                state = (other, direction)
                if state in seen_states and state not in nxt:
                    continue
                if state in nxt and nxt[state].confidence >= rel.confidence * edge.confidence:
                    continue
                nxt[state] = Relation(other, rel.hops + 1, direction, [*rel.path, other], [*rel.steps, (edge, forward)])
        for state, rel in nxt.items():
            seen_states.add(state)
            current = best.get(rel.service_id)
            if current is None or rel.weight > current.weight:
                best[rel.service_id] = rel
        frontier = nxt
    return best


def neighbourhood(service_id: int, depth: int = MAX_DEPTH) -> dict[int, tuple[int, list[int]]]:
    """Services within ``depth`` hops in either direction: id → (hops, path of ids from the alerting one)."""
    return {sid: (rel.hops, rel.path) for sid, rel in relations(service_id, depth).items()}


def direct_dependencies(service_id: int) -> list[int]:
    return list(Dependency.objects.filter(service_id=service_id).values_list("depends_on_id", flat=True).distinct())


def related(service_id: int) -> dict[int, Relation]:
    """``relations`` and ``unlinked`` together, in one round trip while the cached graph is current: the graph's
    stamp travels with the unlinked query, whose row limit comes from the cached relations (both are read again
    when the stamp says the graph changed)."""
    cached = _cache
    guess = relations(service_id, stamp=cached[0]) if cached is not None else {}
    with connection.cursor() as cur:
        cur.execute(STAMP_SQL + NEAR_SQL + CONFIRMED_SQL, _params(service_id, guess))
        key = _key(cur.fetchone())
        cur.nextset()
        near = cur.fetchall()
        cur.nextset()
        confirmed = cur.fetchall()
    if cached is not None and cached[0] == key:
        rels = guess
    else:
        rels = relations(service_id, stamp=key)
        near, confirmed = _near(service_id, rels)
    return {**_unlinked(service_id, rels, near, confirmed), **rels}


def _params(service_id: int, rels: dict[int, Relation]) -> dict[str, Any]:
    return {
        "service": service_id,
        "limit": UNLINKED_MAX + len(rels),
        "since": timezone.now() - timedelta(days=CONFIRMED_DAYS),
    }


def _near(service_id: int, rels: dict[int, Relation]) -> tuple[list[tuple[int, str, str, str]], list[Confirmed]]:
    """The rows of ``NEAR_SQL`` and ``CONFIRMED_SQL``."""
    with connection.cursor() as cur:
        cur.execute(NEAR_SQL + CONFIRMED_SQL, _params(service_id, rels))
        near = cur.fetchall()
        cur.nextset()
        return near, cur.fetchall()


def unlinked(service_id: int, rels: dict[int, Relation]) -> dict[int, Relation]:
    """Services with no known edge to ``service_id`` (not in ``rels``) whose changes responders confirmed as the
    cause of one of its alerts, or that share its team, or its namespace in the same cluster: at most
    ``UNLINKED_MAX``, confirmed ones first, then teammates. One round trip."""
    return _unlinked(service_id, rels, *_near(service_id, rels))


def _confirmed_services(service_id: int, confirmed: list[Confirmed]) -> dict[int, tuple[int, datetime]]:
    """service id → (alerts its changes were confirmed to cause, the last verdict), most recent first."""
    if not confirmed:
        return {}
    services = dict(Change.objects.filter(pk__in={c for c, _, _ in confirmed}).values_list("id", "service_id"))
    alerts: dict[int, set[int]] = {}
    last: dict[int, datetime] = {}
    for change_id, alert_id, at in confirmed:  # newest first
        sid = services.get(change_id)
        if sid is not None and sid != service_id:
            alerts.setdefault(sid, set()).add(alert_id)
            last.setdefault(sid, at)
    return {sid: (len(alerts[sid]), at) for sid, at in last.items()}


def _unlinked(
    service_id: int,
    rels: dict[int, Relation],
    near: list[tuple[int, str, str, str]],
    confirmed: list[Confirmed] | None = None,
) -> dict[int, Relation]:
    """``unlinked`` from ``near`` and ``confirmed`` (the rows of ``NEAR_SQL`` and ``CONFIRMED_SQL``)."""
    out: dict[int, Relation] = {}
    for sid, (alerts, last) in _confirmed_services(service_id, confirmed or []).items():
        if sid not in rels and len(out) < UNLINKED_MAX:
            earlier = f"{alerts} earlier alert{'s' if alerts > 1 else ''}"
            basis = f"its changes were confirmed as the cause of {earlier} here (last {last:%b} {last.day})"
            out[sid] = Relation(sid, 1, NONE, [service_id, sid], basis=basis)
    if not near:
        return out
    team = near[0][3]
    for sid, their_team, their_ns, _ in sorted(near, key=lambda r: (r[1] != team, r[0])):
        if sid in rels or sid in out or len(out) >= UNLINKED_MAX:
            continue
        basis = f"same team ({team})" if team and their_team == team else f"same namespace ({their_ns})"
        out[sid] = Relation(sid, 1, NONE, [service_id, sid], basis=basis)
    return out
