"""Labelled scenarios for the correlation benchmark (pure Python, seeded; no database here).

Honesty rules: the engine only ever sees what a real installation would store. The *true* dependency graph
drives the injected incidents, but the *known* graph (what gets stored as ``Dependency`` rows) misses ~10 % of
the true edges and has a few spurious ones. Cause changes are drawn from the same kind-specific generators as
background changes (a cause deploy looks like any deploy); only some causes leave a trace a real system would
see (a failed rollout, a crash loop right after, an alert on the changed service too), and the background
leaves the same traces at a lower rate (restart blips after harmless deploys, random episodes, alerts with no
cause on every service).
The label (which change caused which alert) is kept aside and never stored.

Round two made them harder and closer to production: every source's shapes (Kubernetes diffs, API details
``{"field": {"from": x, "to": y}}``, Argo CD syncs that say nothing of the image, LaunchDarkly flag updates,
CloudTrail events, semantic-version and build-number image tags), confounders (another risky change minutes
from the cause, the alerting service's own older deploy, autoscaler reactions), alerts that fire on the path
between a far cause and the alert, alerts with no change behind them, and a per-organisation profile (which
kinds of change cause this organisation's incidents) that the shipped weights cannot know but verdicts can
teach. Causes and background draw from the same generators; a cause's version jump is somewhat more often
major (15 % against 5 %) and its CloudTrail event is any of the table's, where background events are mostly tag
edits and permissions: both are what operators report, and both are visible to any ranker.
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
    team: int = 0


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
    #: alerts with no injected cause (flaky monitors, load spikes, disks filling): stored, ranked for abstention
    noise_alerts: list[tuple[int, datetime]] = field(default_factory=list)
    #: alerts that fired on the path between a far cause and the labelled alert (stored, not ranked)
    path_alerts: list[tuple[int, datetime]] = field(default_factory=list)
    #: cause kind → weight for this organisation
    profile: dict[str, float] = field(default_factory=dict)


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
RELATIONS = [("self", 0.30), ("up1", 0.28), ("up2", 0.20), ("up3", 0.12), ("reverse", 0.10)]
#: CloudTrail events: background (mostly tags and permissions) and what a cause can be (any of them)
INFRA_BACKGROUND = [
    ("CreateTags", 0.35),
    ("AuthorizeSecurityGroupIngress", 0.15),
    ("AttachRolePolicy", 0.15),
    ("PutParameter", 0.1),
    ("UpdateAutoScalingGroup", 0.08),
    ("UpdateService", 0.07),
    ("ModifyDBInstance", 0.03),
    ("UpdateFunctionConfiguration", 0.03),
    ("RevokeSecurityGroupIngress", 0.01),
    ("ModifyDBParameterGroup", 0.01),
    ("ChangeResourceRecordSets", 0.01),
    ("ModifyListener", 0.01),
]
INFRA_CAUSES = [(name, 1.0) for name, _ in INFRA_BACKGROUND]
CONFIG_KEYS = ["LOG_LEVEL", "GREETING", "FEATURE_BANNER", "DB_POOL_SIZE", "HTTP_TIMEOUT_MS", "CACHE_TTL", "THEME"]
CONFIG_KEYS += ["MAX_CONNECTIONS", "UPSTREAM_URL", "RETRY_LIMIT", "WORKER_THREADS", "LOCALE", "BATCH_SIZE"]


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
    edges = {e for e in edges if e[0] != e[1]}
    _teams(rng, services, edges)
    return services, edges


def _teams(rng: random.Random, services: list[Svc], edges: set[tuple[int, int]]) -> None:
    """Teams of about eight (each its own namespace): a service usually belongs to the team of a service calling
    it, so a team's services call each other more than chance (as in real organisations), not always."""
    callers: dict[int, list[int]] = {}
    for a, b in edges:
        callers.setdefault(b, []).append(a)
    count = max(1, len(services) // 8)
    for i in sorted(range(len(services)), key=lambda j: services[j].layer):
        up = callers.get(i, [])
        services[i].team = services[rng.choice(up)].team if up and rng.random() < 0.6 else rng.randrange(count)


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

    def _version(self, cause: bool) -> tuple[str, str]:
        """(before, after) image tags: semantic versions (a cause jumps a major version somewhat more often) or
        build numbers."""
        rng = self.rng
        if rng.random() < 0.4:
            v = rng.randint(1, 900)
            return str(v), str(v + 1)
        major, minor, patch = rng.randint(0, 6), rng.randint(0, 20), rng.randint(0, 9)
        jump = _pick(
            rng,
            [("major", 0.15), ("minor", 0.4), ("patch", 0.45)]
            if cause
            else [("major", 0.05), ("minor", 0.3), ("patch", 0.65)],
        )
        after = {"major": (major + 1, 0, 0), "minor": (major, minor + 1, 0), "patch": (major, minor, patch + 1)}[jump]
        return f"{major}.{minor}.{patch}", ".".join(map(str, after))

    def make(self, svc: int, name: str, kind: str, at: datetime, cause: bool = False) -> Chg:
        rng = self.rng
        self.n += 1
        key = f"b-{self.n}"
        sha = f"{rng.getrandbits(64):016x}"
        if kind in ("deploy", "rollback"):
            before, after = self._version(cause)
            if kind == "rollback":
                before, after = after, before
            status = "failed" if rng.random() < 0.03 else "succeeded"
            shape = rng.random()
            diff: list[dict] = []
            if shape < 0.45:  # the Kubernetes collector
                diff = [
                    {
                        "path": "spec.template.spec.containers[app].image",
                        "before": f"{name}:{before}",
                        "after": f"{name}:{after}",
                    }
                ]
                details: dict = {"rollout": {"status": status}}
            elif shape < 0.75:  # a CI tool or script through the API
                details = {"image": {"from": f"registry/{name}:{before}", "to": f"registry/{name}:{after}"}}
            else:  # Argo CD: the app's revision and health, nothing about the image
                details = {"app": name, "revision": sha, "health": "Degraded" if status == "failed" else "Healthy"}
            if rng.random() < 0.08:
                cut_before = rng.choice([4, 6, 10, 20, 50])
                cut_after = max(1, int(cut_before * rng.uniform(0.1, 1.5)))
                if diff:
                    diff.append({"path": "spec.replicas", "before": cut_before, "after": cut_after})
                else:
                    details["replicas"] = {"from": cut_before, "to": cut_after}
            return Chg(key, svc, kind, at, f"{kind.title()} {name} {after}", status, diff, details, sha)
        if kind == "scale":
            before = rng.choice([2, 3, 4, 6, 10, 20, 50])
            after = max(1, int(before * rng.choice([0.1, 0.3, 0.5, 1.5, 2, 2])))
            return self._scale(key, svc, name, at, before, after)
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
        if kind == "feature_flag":  # LaunchDarkly's shape
            on = rng.random() < 0.6
            flag = f"{name}-f{rng.randint(1, 50)}"
            action = rng.choice(["updateOn", "updateRules", "updateFallthrough"])
            return Chg(
                key,
                svc,
                kind,
                at,
                f"Someone {'turned on' if on else 'updated'} {flag} in production",
                "succeeded",
                diff=[{"path": "environments.production.on", "before": not on, "after": on}]
                if action == "updateOn"
                else [],
                details={"flag": flag, "environment": "production", "actions": [action]},
            )
        if kind == "infra":  # CloudTrail
            event = _pick(rng, INFRA_CAUSES if cause else INFRA_BACKGROUND)
            return Chg(
                key,
                svc,
                kind,
                at,
                f"{event} on {name}",
                "succeeded",
                details={"event_name": event, "event_source": "aws"},
            )
        keys = rng.sample(CONFIG_KEYS, k=min(len(CONFIG_KEYS), 1 + int(rng.expovariate(0.7))))
        if rng.random() < 0.5:
            return Chg(
                key,
                svc,
                kind,
                at,
                f"{kind} change on {name}",
                diff=[{"path": f"data.{k}", "before": "a", "after": "b"} for k in keys],
            )
        return Chg(
            key, svc, kind, at, f"{kind} change on {name}", details={k.lower(): {"from": "a", "to": "b"} for k in keys}
        )

    def _scale(self, key: str, svc: int, name: str, at: datetime, before: int, after: int) -> Chg:
        summary = f"Scaled {name} {before} → {after}"
        if self.rng.random() < 0.5:
            return Chg(
                key, svc, "scale", at, summary, diff=[{"path": "spec.replicas", "before": before, "after": after}]
            )
        return Chg(key, svc, "scale", at, summary, details={"replicas": {"from": before, "to": after}})


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


def _callers(edges: set[tuple[int, int]], svc: int, hops: int, rng: random.Random) -> list[int] | None:
    """A chain of ``hops`` caller-steps above ``svc`` in the true graph (each depends on the one before), ending at
    the service that alerts."""
    chain = [svc]
    for _ in range(hops):
        up = [a for a, b in edges if b == chain[-1] and a not in chain]
        if not up:
            return None
        chain.append(rng.choice(up))
    return chain


def inject(rng: random.Random, sc: Scenario, start: datetime, days: float, count: int, factory: ChangeFactory) -> None:
    n = len(sc.services)
    attempts = 0
    kinds = [(k, w * sc.profile.get(k, 1.0)) for k, w in CAUSE_KINDS]
    while len({i.cause for i in sc.incidents}) < count and attempts < count * 20:
        attempts += 1
        relation = _pick(rng, RELATIONS)
        cause_svc = rng.randrange(n)
        chain: list[int] | None
        if relation == "self":
            chain = [cause_svc]
        elif relation == "reverse":  # a caller's change overloads a service it calls
            callees = [b for a, b in sc.true_edges if a == cause_svc]
            chain = [cause_svc, rng.choice(callees)] if callees else None
        else:
            chain = _callers(sc.true_edges, cause_svc, int(relation[-1]), rng)
        if chain is None:
            continue
        alert_svc = chain[-1]
        kind = _pick(rng, kinds)
        at = _at(rng, start + timedelta(days=days * 0.3), days * 0.7 - 0.05, True)
        name = sc.services[cause_svc].name
        cause = factory.make(cause_svc, name, kind, at, cause=True)
        if kind == "scale":  # a harmful scale change is a cut
            before = rng.choice([6, 10, 20, 50])
            cause = factory._scale(cause.key, cause_svc, name, at, before, max(1, int(before * rng.uniform(0.1, 0.5))))
        if kind in ("deploy", "rollback") and rng.random() < 0.15:
            cause.status = "failed"
            cause.details = {**cause.details, "rollout": {"status": "failed"}}
        if rng.random() < 0.35:
            sc.episodes.append(Episode(cause_svc, at + timedelta(minutes=rng.uniform(1, 10)), "CrashLoopBackOff"))
        sc.changes.append(cause)
        delay = min(45.0, max(1.0, rng.lognormvariate(math.log(8), 0.7)))
        alert_at = at + timedelta(minutes=delay)
        sc.incidents.append(Incident(cause.key, alert_svc, alert_at, relation))
        if len(chain) > 2 and rng.random() < 0.5:  # the services between alert first, in order
            step = delay / len(chain)
            for i, sid in enumerate(chain[1:-1], start=1):
                sc.path_alerts.append((sid, at + timedelta(minutes=step * i * rng.uniform(0.6, 1.0))))
        _confounders(rng, sc, factory, cause_svc, alert_svc, at, alert_at)
        if relation != "self" and rng.random() < 0.25:  # the changed service alerts too, a bit later
            sc.incidents.append(Incident(cause.key, cause_svc, alert_at + timedelta(minutes=rng.uniform(0, 5)), "self"))


def _confounders(
    rng: random.Random,
    sc: Scenario,
    factory: ChangeFactory,
    cause_svc: int,
    alert_svc: int,
    at: datetime,
    alert_at: datetime,
) -> None:
    """Changes a responder must rule out: another risky change minutes from the cause on a nearby service, the
    alerting service's own older deploy, the autoscaler reacting to the load before the alert."""
    if rng.random() < 0.35:
        near = [b for a, b in sc.true_edges if a == alert_svc] + [a for a, b in sc.true_edges if b == cause_svc]
        other = rng.choice(near) if near else rng.randrange(len(sc.services))
        if other != cause_svc:
            kind = _pick(rng, [("deploy", 0.6), ("config", 0.2), ("feature_flag", 0.2)])
            sc.changes.append(
                factory.make(other, sc.services[other].name, kind, at + timedelta(minutes=rng.uniform(-15, 15)))
            )
    if alert_svc != cause_svc and rng.random() < 0.3:
        sc.changes.append(
            factory.make(
                alert_svc, sc.services[alert_svc].name, "deploy", alert_at - timedelta(minutes=rng.uniform(30, 180))
            )
        )
    if rng.random() < 0.3 and sc.services[alert_svc].autoscaled:
        sc.changes.append(
            factory.make(
                alert_svc, sc.services[alert_svc].name, "autoscale", alert_at - timedelta(minutes=rng.uniform(0.5, 4))
            )
        )


def generate(seed: int, n_services: int, days: float, n_incidents: int, now: datetime) -> Scenario:
    rng = random.Random(seed)
    services, true_edges = build_graph(rng, n_services)
    start = now - timedelta(days=days)
    factory = ChangeFactory(rng)
    changes, episodes = background(rng, services, start, days, factory)
    sc = Scenario(services, true_edges, known_graph(rng, true_edges, n_services), changes, episodes, [])
    # this organisation's profile: some kinds of change cause its incidents far more often than elsewhere
    sc.profile = {k: rng.choice([0.25, 1.0, 1.0, 4.0]) for k, _ in CAUSE_KINDS}
    inject(rng, sc, start, days, n_incidents, factory)
    for i in range(n_services):  # about one causeless alert per service every three days
        sc.noise_alerts += [(i, _at(rng, start, days, False)) for _ in range(_poisson(rng, days / 3))]
    return sc
