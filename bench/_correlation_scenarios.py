"""Labelled scenarios for the correlation benchmark (pure Python, seeded; no database here).

Honesty rules: the engine only ever sees what a real installation would store. The *true* dependency graph
drives the injected incidents, but the *known* graph (what gets stored as ``Dependency`` rows) misses ~10 % of
the true edges and has a few spurious ones. Cause changes are drawn from the same kind-specific generators as
background changes (a cause deploy looks like any deploy); only some causes leave a trace a real system would
see (a failed rollout, a crash loop right after, an alert on the changed service too), and the background
leaves the same traces at a lower rate (restart blips after harmless deploys, random episodes, alerts with no
cause on every service).
The label (which change caused which alert) is kept aside and never stored.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta


@dataclass
class Svc:
    name: str
    layer: int
    deploys_per_day: float
    autoscaled: bool


@dataclass
class Chg:
    key: str
    service: int
    kind: str
    at: datetime
    summary: str
    status: str = ""
    diff: list[dict] = field(default_factory=list)
    details: dict = field(default_factory=dict)
    commit_sha: str = ""


@dataclass
class Episode:
    service: int
    at: datetime
    reason: str


@dataclass
class Incident:
    cause: str  # change key
    alert_service: int
    at: datetime
    relation: str  # self, up1, up2, up3, reverse


@dataclass
class Scenario:
    services: list[Svc]
    true_edges: set[tuple[int, int]]  # (caller, callee)
    known_edges: set[tuple[int, int]]
    changes: list[Chg]
    episodes: list[Episode]
    incidents: list[Incident]
    #: alerts with no injected cause (flaky monitors, load spikes): stored, never scored
    noise_alerts: list[tuple[int, datetime]] = field(default_factory=list)


HUMAN_KINDS = {  # kind → rate per service per day (scaled by the service's activity)
    "config": 0.5,
    "feature_flag": 0.4,
    "secret": 0.05,
    "scale": 0.2,
    "db_migration": 0.05,
    "infra": 0.05,
}
CAUSE_KINDS = [
    ("deploy", 0.45),
    ("config", 0.15),
    ("feature_flag", 0.15),
    ("scale", 0.08),
    ("secret", 0.04),
    ("db_migration", 0.06),
    ("infra", 0.04),
    ("rollback", 0.03),
]
RELATIONS = [("self", 0.35), ("up1", 0.30), ("up2", 0.18), ("up3", 0.10), ("reverse", 0.07)]


def _pick(rng: random.Random, weighted: list[tuple[str, float]]) -> str:
    x = rng.random() * sum(w for _, w in weighted)
    for value, w in weighted:
        x -= w
        if x <= 0:
            return value
    return weighted[-1][0]


def build_graph(rng: random.Random, n: int, fanout: float = 2.0) -> tuple[list[Svc], set[tuple[int, int]]]:
    """Layered services (0 = edge, 3 = data stores); each calls 1–3 services in deeper layers. A few shared
    platform services (auth, config) are called by many: realistic hubs."""
    layers = [0] * int(n * 0.15) + [1] * int(n * 0.35) + [2] * int(n * 0.3)
    layers += [3] * (n - len(layers))
    services = [
        Svc(f"svc-{i:04d}", layer, rng.choice([0.3, 1, 2, 4, 8]), rng.random() < 0.4) for i, layer in enumerate(layers)
    ]
    by_layer: dict[int, list[int]] = {}
    for i, s in enumerate(services):
        by_layer.setdefault(s.layer, []).append(i)
    hubs = rng.sample(by_layer[3], k=min(2, len(by_layer[3])))
    edges: set[tuple[int, int]] = set()
    for i, s in enumerate(services):
        deeper = [j for j in range(len(services)) if services[j].layer > s.layer]
        if not deeper:
            continue
        for _ in range(max(1, min(3, int(rng.expovariate(1 / fanout)) + 1))):
            nxt = [j for j in deeper if services[j].layer == s.layer + 1] or deeper
            edges.add((i, rng.choice(nxt if rng.random() < 0.8 else deeper)))
        if rng.random() < 0.3:
            edges.add((i, rng.choice(hubs)))
    return services, {e for e in edges if e[0] != e[1]}


def known_graph(rng: random.Random, true_edges: set[tuple[int, int]], n: int) -> set[tuple[int, int]]:
    known = {e for e in true_edges if rng.random() >= 0.10}
    for _ in range(int(len(true_edges) * 0.03)):
        a, b = rng.sample(range(n), 2)
        known.add((a, b))
    return known


def _at(rng: random.Random, start: datetime, days: float, human: bool) -> datetime:
    t = start + timedelta(seconds=rng.uniform(0, days * 86400))
    if human and rng.random() < 0.8:  # people work days; machines do not
        t = t.replace(hour=rng.randint(8, 18), minute=rng.randint(0, 59))
    return t


class ChangeFactory:
    """The one place that makes a change of a kind look like that kind, for background and causes alike."""

    def __init__(self, rng: random.Random):
        self.rng = rng
        self.n = 0

    def make(self, svc: int, name: str, kind: str, at: datetime) -> Chg:
        rng = self.rng
        self.n += 1
        key = f"b-{self.n}"
        sha = f"{rng.getrandbits(64):016x}"
        if kind in ("deploy", "rollback"):
            v = rng.randint(1, 900)
            diff = [
                {
                    "path": "spec.template.spec.containers[app].image",
                    "before": f"{name}:{v}",
                    "after": f"{name}:{v + 1}",
                }
            ]
            if rng.random() < 0.08:
                before = rng.choice([4, 6, 10, 20, 50])
                diff.append(
                    {"path": "spec.replicas", "before": before, "after": max(1, int(before * rng.uniform(0.1, 1.5)))}
                )
            status = "failed" if rng.random() < 0.03 else "succeeded"
            return Chg(
                key, svc, kind, at, f"{kind.title()} {name} {v + 1}", status, diff, {"rollout": {"status": status}}, sha
            )
        if kind == "scale":
            before = rng.choice([2, 3, 4, 6, 10, 20, 50])
            after = max(1, int(before * rng.choice([0.1, 0.3, 0.5, 1.5, 2, 2])))
            return Chg(
                key,
                svc,
                kind,
                at,
                f"Scaled {name} {before} → {after}",
                diff=[{"path": "spec.replicas", "before": before, "after": after}],
            )
        if kind == "autoscale":
            before = rng.randint(2, 12)
            after = before + rng.choice([-1, 1, 1, 2])
            return Chg(
                key,
                svc,
                kind,
                at,
                f"HPA scaled {name} {before} → {after}",
                diff=[{"path": "spec.replicas", "before": before, "after": max(1, after)}],
            )
        if kind == "commit":
            return Chg(key, svc, kind, at, f"Merge pull request #{rng.randint(1, 9999)}", commit_sha=sha)
        if kind == "ci":
            ok = rng.random() < 0.9
            return Chg(
                key,
                svc,
                kind,
                at,
                f"{name}-build #{rng.randint(1, 9999)} {'SUCCESS' if ok else 'FAILURE'}",
                "succeeded" if ok else "failed",
                commit_sha=sha,
            )
        if kind == "feature_flag":
            on = rng.random() < 0.6
            return Chg(
                key,
                svc,
                kind,
                at,
                f"Turned {'on' if on else 'off'} flag {name}-f{rng.randint(1, 50)}",
                diff=[{"path": "environments.production.on", "before": not on, "after": on}],
            )
        return Chg(
            key,
            svc,
            kind,
            at,
            f"{kind} change on {name}",
            diff=[{"path": f"data.K{rng.randint(1, 20)}", "before": "a", "after": "b"}],
        )


def background(
    rng: random.Random, services: list[Svc], start: datetime, days: float, factory: ChangeFactory
) -> tuple[list[Chg], list[Episode]]:
    changes: list[Chg] = []
    episodes: list[Episode] = []
    for i, s in enumerate(services):
        activity = s.deploys_per_day
        rates = {
            "deploy": activity,
            "ci": activity * 1.5,
            "commit": activity * 2,
            **{k: v * max(0.3, activity / 2) for k, v in HUMAN_KINDS.items()},
            "autoscale": rng.uniform(10, 60) if s.autoscaled else 0.0,
        }
        for kind, rate in rates.items():
            for _ in range(_poisson(rng, rate * days)):
                c = factory.make(i, s.name, kind, _at(rng, start, days, kind not in ("autoscale",)))
                changes.append(c)
                if kind == "deploy" and rng.random() < 0.05:  # restart blips after harmless deploys
                    episodes.append(Episode(i, c.at + timedelta(minutes=rng.uniform(0.5, 8)), "CrashLoopBackOff"))
        for _ in range(_poisson(rng, 0.3 * days)):
            episodes.append(
                Episode(i, _at(rng, start, days, False), rng.choice(["OOMKilled", "CrashLoopBackOff", "Unhealthy"]))
            )
    return changes, episodes


def _poisson(rng: random.Random, lam: float) -> int:
    if lam <= 0:
        return 0
    if lam > 50:
        return max(0, int(rng.gauss(lam, math.sqrt(lam))))
    limit, k, p = math.exp(-lam), 0, 1.0
    while True:
        p *= rng.random()
        if p <= limit:
            return k
        k += 1


def _callers(edges: set[tuple[int, int]], svc: int, hops: int, rng: random.Random) -> int | None:
    """A service ``hops`` caller-steps above ``svc`` in the true graph (it depends on svc transitively)."""
    current = svc
    for _ in range(hops):
        up = [a for a, b in edges if b == current]
        if not up:
            return None
        current = rng.choice(up)
    return current


def inject(rng: random.Random, sc: Scenario, start: datetime, days: float, count: int, factory: ChangeFactory) -> None:
    n = len(sc.services)
    attempts = 0
    while len({i.cause for i in sc.incidents}) < count and attempts < count * 20:
        attempts += 1
        relation = _pick(rng, RELATIONS)
        cause_svc = rng.randrange(n)
        if relation == "self":
            alert_svc: int | None = cause_svc
        elif relation == "reverse":  # a caller's change overloads a service it calls
            callees = [b for a, b in sc.true_edges if a == cause_svc]
            alert_svc = rng.choice(callees) if callees else None
        else:
            alert_svc = _callers(sc.true_edges, cause_svc, int(relation[-1]), rng)
        if alert_svc is None:
            continue
        kind = _pick(rng, CAUSE_KINDS)
        at = _at(rng, start + timedelta(days=days * 0.3), days * 0.7 - 0.05, True)
        cause = factory.make(cause_svc, sc.services[cause_svc].name, kind, at)
        if kind == "scale":  # a harmful scale change is a cut
            before = rng.choice([6, 10, 20, 50])
            after = max(1, int(before * rng.uniform(0.1, 0.5)))
            cause.diff = [{"path": "spec.replicas", "before": before, "after": after}]
            cause.summary = f"Scaled {sc.services[cause_svc].name} {before} → {after}"
        if kind in ("deploy", "rollback") and rng.random() < 0.15:
            cause.status, cause.details = "failed", {"rollout": {"status": "failed"}}
        if rng.random() < 0.35:
            sc.episodes.append(Episode(cause_svc, at + timedelta(minutes=rng.uniform(1, 10)), "CrashLoopBackOff"))
        sc.changes.append(cause)
        delay = min(45.0, max(1.0, rng.lognormvariate(math.log(8), 0.7)))
        alert_at = at + timedelta(minutes=delay)
        sc.incidents.append(Incident(cause.key, alert_svc, alert_at, relation))
        if rng.random() < 0.3 and sc.services[alert_svc].autoscaled:  # load: the HPA reacts before the alert fires
            sc.changes.append(
                factory.make(
                    alert_svc,
                    sc.services[alert_svc].name,
                    "autoscale",
                    alert_at - timedelta(minutes=rng.uniform(0.5, 4)),
                )
            )
        if relation != "self" and rng.random() < 0.25:  # the changed service alerts too, a bit later
            sc.incidents.append(Incident(cause.key, cause_svc, alert_at + timedelta(minutes=rng.uniform(0, 5)), "self"))


def generate(seed: int, n_services: int, days: float, n_incidents: int, now: datetime) -> Scenario:
    rng = random.Random(seed)
    services, true_edges = build_graph(rng, n_services)
    start = now - timedelta(days=days)
    factory = ChangeFactory(rng)
    changes, episodes = background(rng, services, start, days, factory)
    sc = Scenario(services, true_edges, known_graph(rng, true_edges, n_services), changes, episodes, [])
    inject(rng, sc, start, days, n_incidents, factory)
    for i in range(n_services):  # about one causeless alert per service every three days
        sc.noise_alerts += [(i, _at(rng, start, days, False)) for _ in range(_poisson(rng, days / 3))]
    return sc
