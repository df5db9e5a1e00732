"""Correlation benchmark: ranking quality on labelled scenarios, and suspects latency at scale.

    python -m bench.correlation [--quick] [--seed N] [--skip-quality] [--skip-speed]

Quality: a generated service graph (50–200 services), days of background changes of every kind, injected
incidents (see ``bench/_correlation_scenarios.py``). For each labelled alert: precision@1 and @3 (share of
alerts whose cause is in the top 1 / top 3) and MRR, for the engine and two baselines on the same data in the
same run: (a) the most recent change on the alerting service; (b) the 3 most recent changes in 24 h on the
alerting service and its direct dependencies.

Speed: 1,000 services, 100,000 changes in the last 24 h; suspects for one alert, p50/p95 (target p95 ≤ 50 ms):
compute only (``rank``), compute and store (what runs when an alert arrives), and the read path (stored
suspects checked for staleness and read), next to a baseline (fetching every candidate row with the ORM, as
the first engine did), with the candidate query's EXPLAIN (ANALYZE, BUFFERS) for the largest neighbourhood.

Runs in its own database (``bench_correlation_<pid>``), created and dropped here.
"""

from __future__ import annotations

import argparse
import gc
import os
import random
import statistics
import sys
import time
from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any


def _setup_django() -> Any:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "changetrack.settings")
    os.environ.setdefault("LOG_LEVEL", "WARNING")  # partition creation logs would bury the figures
    import django

    django.setup()
    from django.conf import settings
    from django.test.utils import setup_databases

    settings.DATABASES["default"].setdefault("TEST", {})["NAME"] = f"bench_correlation_{os.getpid()}"
    return setup_databases(verbosity=0, interactive=False)


def _teardown(state: Any) -> None:
    from django.test.utils import teardown_databases

    teardown_databases(state, verbosity=0)


def load(sc: Any, now: datetime) -> tuple[dict[str, int], list[tuple[int, str, str]]]:
    """Store a scenario through the real paths. Returns change key → id and (alert id, cause key, relation)."""
    from changetrack import partitions
    from changetrack.ingest.store import store_records
    from changetrack.models import Dependency, HealthEpisode, Service
    from changetrack.resolution import ServiceResolver
    from integrations.base import AlertRecord, ChangeRecord, ServiceHint

    Service.objects.bulk_create(
        [Service(namespace="bench", name=s.name, workload_kind="Deployment") for s in sc.services]
    )
    ids = dict(Service.objects.filter(namespace="bench").values_list("name", "id"))
    sid = [ids[s.name] for s in sc.services]
    Dependency.objects.bulk_create(
        [
            Dependency(
                service_id=sid[a],
                depends_on_id=sid[b],
                provenance="kubernetes",
                confidence=0.9,
                evidence=f"env var {sc.services[b].name.upper().replace('-', '_')}_URL",
            )
            for a, b in sc.known_edges
        ]
    )
    HealthEpisode.objects.bulk_create(
        [
            HealthEpisode(
                service_id=sid[e.service],
                reason=e.reason,
                summary=e.reason,
                started_at=e.at,
                ended_at=e.at + timedelta(minutes=5),
                last_seen_at=e.at + timedelta(minutes=5),
            )
            for e in sc.episodes
        ]
    )
    hints = [ServiceHint(name=s.name, namespace="bench") for s in sc.services]
    resolver = ServiceResolver()
    partitions.ensure_for("changetrack_change", (c.at for c in sc.changes))
    records = [
        ChangeRecord(
            source="bench",
            external_id=c.key,
            kind=c.kind,
            occurred_at=c.at,
            summary=c.summary,
            service=hints[c.service],
            status=c.status,
            diff=tuple(c.diff),
            details=c.details,
            commit_sha=c.commit_sha,
        )
        for c in sc.changes
    ]
    for i in range(0, len(records), 5000):
        store_records(records[i : i + 5000], update_existing=False, resolver=resolver)
    from changetrack.models import Change

    keys = dict(Change.objects.filter(source="bench").values_list("external_id", "id"))
    alert_records = [
        AlertRecord(
            source="bench",
            external_id=f"alert-{n}",
            title=f"Errors on {sc.services[inc.alert_service].name}",
            status="triggered",
            occurred_at=inc.at,
            started_at=inc.at,
            service=hints[inc.alert_service],
        )
        for n, inc in enumerate(sc.incidents)
    ]
    stored = store_records(alert_records, resolver=resolver).alerts
    labelled = [(aid, inc.cause, inc.relation) for (aid, _), inc in zip(stored, sc.incidents, strict=True)]
    store_records(
        [
            AlertRecord(
                source="bench",
                external_id=f"noise-{n}",
                title=f"Errors on {sc.services[s].name}",
                status="triggered",
                occurred_at=at,
                started_at=at,
                service=hints[s],
            )
            for n, (s, at) in enumerate(sc.noise_alerts)
        ],
        resolver=resolver,
    )
    return keys, labelled


def _baselines(alert_id: int) -> tuple[list[int], list[int]]:
    from django.db.models import Q

    from changetrack.models import Alert, Change, Dependency

    a = Alert.objects.get(pk=alert_id)
    before = Change.objects.filter(occurred_at__lte=a.started_at)
    most_recent = list(
        before.filter(service_id=a.service_id).order_by("-occurred_at", "-id").values_list("id", flat=True)[:1]
    )
    deps = list(Dependency.objects.filter(service_id=a.service_id).values_list("depends_on_id", flat=True))
    three = list(
        before.filter(
            Q(service_id=a.service_id) | Q(service_id__in=deps), occurred_at__gte=a.started_at - timedelta(hours=24)
        )
        .order_by("-occurred_at", "-id")
        .values_list("id", flat=True)[:3]
    )
    return most_recent, three


def _score(ranked: list[int], cause: int) -> tuple[float, float, float]:
    if cause not in ranked:
        return 0.0, 0.0, 0.0
    pos = ranked.index(cause) + 1
    return float(pos == 1), float(pos <= 3), 1.0 / pos


def _describe_miss(alert: Any, ranked: list[Any], cause: int, relation: str) -> str:
    """One miss as a responder would read it: the true cause's rank and score, and what ranked above it."""
    from changetrack.models import Change

    ids = [r.change.id for r in ranked]
    pos = ids.index(cause) + 1 if cause in ids else None
    c = Change.objects.filter(pk=cause).values_list("kind", "summary", "service__name", "occurred_at").first()
    lines = [
        f"-- alert {alert.pk} on {alert.service.name} ({relation}); cause rank {pos}: "
        f"{c[0]} {c[2]} {c[1]!r} {(alert.started_at - c[3]).total_seconds() / 60:.0f} min before"
    ]
    for i, r in enumerate(ranked[: (pos or 3)], start=1):
        mark = "*" if r.change.id == cause else " "
        minutes = (alert.started_at - r.change.occurred_at).total_seconds() / 60
        lines.append(
            f"  {mark}{i}. {r.score:.3f} {r.components} {r.change.kind} {r.path[-1]} hops={r.hops} "
            f"{minutes:.0f} min | {'; '.join(r.reasons[1:])}"
        )
    return "\n".join(lines)


def quality(seed: int, n_services: int, days: float, n_incidents: int, show_misses: bool = False) -> dict[str, Any]:
    from bench._correlation_scenarios import generate
    from changetrack.correlation import engine
    from changetrack.models import Alert

    now = datetime.now().astimezone().replace(microsecond=0)
    sc = generate(seed, n_services, days, n_incidents, now)
    t0 = time.perf_counter()
    keys, labelled = load(sc, now)
    load_s = time.perf_counter() - t0
    sums: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0, 0.0])
    by_rel: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0])
    for alert_id, cause_key, relation in labelled:
        cause = keys[cause_key]
        alert = Alert.objects.select_related("service").get(pk=alert_id)
        full = engine.rank(alert, limit=10)
        ranked = [r.change.id for r in full]
        if show_misses and (not ranked or ranked[0] != cause):
            print(_describe_miss(alert, full, cause, relation))
        a, b = _baselines(alert_id)
        for name, lst in (
            ("engine", ranked),
            ("baseline_a_latest_on_service", a),
            ("baseline_b_3_latest_with_deps", b),
        ):
            p1, p3, rr = _score(lst, cause)
            acc = sums[name]
            acc[0] += p1
            acc[1] += p3
            acc[2] += rr
        p1, _, _ = _score(ranked, cause)
        by_rel[relation][0] += p1
        by_rel[relation][1] += 1
    n = len(labelled)
    return {
        "services": n_services,
        "edges_true": len(sc.true_edges),
        "edges_known": len(sc.known_edges),
        "changes": len(sc.changes),
        "days": days,
        "labelled_alerts": n,
        "unlabelled_noise_alerts": len(sc.noise_alerts),
        "load_seconds": round(load_s, 1),
        "results": {
            k: {"p@1": round(v[0] / n, 3), "p@3": round(v[1] / n, 3), "mrr": round(v[2] / n, 3)}
            for k, v in sums.items()
        },
        "engine_p@1_by_relation": {k: f"{v[0] / v[1]:.2f} (n={int(v[1])})" for k, v in sorted(by_rel.items())},
    }


def _speed_scenario(rng: random.Random, n_services: int, n_changes: int, now: datetime) -> Any:
    from bench._correlation_scenarios import ChangeFactory, Scenario, build_graph

    services, edges = build_graph(rng, n_services)
    factory = ChangeFactory(rng)
    kinds = [
        ("autoscale", 0.55),
        ("commit", 0.1),
        ("ci", 0.1),
        ("deploy", 0.12),
        ("config", 0.06),
        ("feature_flag", 0.04),
        ("scale", 0.03),
    ]
    from bench._correlation_scenarios import _pick

    changes = [
        factory.make(s, services[s].name, _pick(rng, kinds), now - timedelta(seconds=rng.uniform(60, 86400)))
        for s in (rng.randrange(n_services) for _ in range(n_changes))
    ]
    return Scenario(services, edges, edges, changes, [], [])


def _pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))]


def speed(seed: int, n_services: int, n_changes: int, samples: int) -> dict[str, Any]:
    from changetrack.correlation import candidates, engine, graph
    from changetrack.ingest.store import store_records
    from changetrack.models import Alert, Change, Service
    from integrations.base import AlertRecord, ServiceHint

    rng = random.Random(seed)
    now = datetime.now().astimezone().replace(microsecond=0)
    sc = _speed_scenario(rng, n_services, n_changes, now)
    t0 = time.perf_counter()
    load(sc, now)
    load_s = time.perf_counter() - t0
    from django.db import connection

    with connection.cursor() as cur:
        # steady state, as autovacuum keeps it: statistics on every table (without them the planner guesses for
        # services, alerts, episodes), hint bits and visibility map set once (else the first ranking to read each
        # freshly loaded row pays for writing them)
        cur.execute("VACUUM ANALYZE")
    names = [s.name for s in rng.sample(sc.services, samples)]
    # the generated scenario (100,000 objects) is the benchmark's, not the engine's: a worker would not hold it,
    # and every garbage collection during the samples would walk it
    del sc
    gc.collect()
    recs = [
        AlertRecord(
            source="speed",
            external_id=f"s-{i}",
            title="Errors",
            status="triggered",
            occurred_at=now,
            started_at=now,
            service=ServiceHint(name=name, namespace="bench"),
        )
        for i, name in enumerate(names)
    ]
    alert_ids = [aid for aid, _ in store_records(recs).alerts]
    fresh, read, naive, hood_sizes, candidates_in_window, compute = [], [], [], [], [], []
    windows: list[Any] = []
    for aid in alert_ids:
        alert = Alert.objects.select_related("service").get(pk=aid)
        t = time.perf_counter()
        engine.rank(alert, limit=engine.STORED)  # compute only
        compute.append((time.perf_counter() - t) * 1000)
        t = time.perf_counter()
        engine.current_suspects(alert)  # never computed: rank + store
        fresh.append((time.perf_counter() - t) * 1000)
        alert.refresh_from_db()
        t = time.perf_counter()
        engine.current_suspects(alert)  # stored and fresh: staleness check + read
        read.append((time.perf_counter() - t) * 1000)
        hood = graph.neighbourhood(alert.service_id)
        window = Change.objects.filter(
            service_id__in=list(hood),
            occurred_at__gte=now - timedelta(hours=24),
            occurred_at__lte=now + timedelta(minutes=5),
        )
        hood_sizes.append(len(hood))
        candidates_in_window.append(window.count())
        if len(windows) < 10:  # the baseline takes seconds per alert: ten samples are enough to compare
            windows.append(window)
    for window in windows:  # after the engine's samples: its tens of thousands of objects would tax their GC
        t = time.perf_counter()
        list(window.select_related("service"))
        naive.append((time.perf_counter() - t) * 1000)
    # the plan of the candidate query for the alert with the largest neighbourhood
    worst = alert_ids[max(range(len(alert_ids)), key=lambda i: hood_sizes[i])]
    alert = Alert.objects.get(pk=worst)
    weights = {s: r.weight for s, r in graph.relations(alert.service_id).items()}
    recent = alert.started_at - timedelta(minutes=engine.RECENT_MINUTES)
    first = {
        sid: (since if weights[sid] >= engine.STRONG else max(since, recent), until)
        for sid, (since, until) in candidates.ranges(alert.started_at, weights, 24 * 60).items()
    }
    plan = candidates.explain(alert.started_at, weights, first, engine.PAGE)
    in_24h = Change.objects.filter(occurred_at__gte=now - timedelta(hours=24)).count()
    return {
        "machine_load_average_1_5_15": [round(x, 1) for x in os.getloadavg()],
        "cpus": os.cpu_count(),
        "services": Service.objects.filter(namespace="bench").count(),
        "changes_last_24h": in_24h,
        "alerts": samples,
        "load_seconds": round(load_s, 1),
        "neighbourhood_services_p50_max": [int(statistics.median(hood_sizes)), max(hood_sizes)],
        "changes_in_window_p50_max": [int(statistics.median(candidates_in_window)), max(candidates_in_window)],
        "suspects_compute_only_ms": {"p50": round(_pct(compute, 0.5), 1), "p95": round(_pct(compute, 0.95), 1)},
        "suspects_compute_and_store_ms": {"p50": round(_pct(fresh, 0.5), 1), "p95": round(_pct(fresh, 0.95), 1)},
        "suspects_read_ms": {"p50": round(_pct(read, 0.5), 1), "p95": round(_pct(read, 0.95), 1)},
        "baseline_fetch_all_candidates_orm_ms": {"p50": round(_pct(naive, 0.5), 1), "p95": round(_pct(naive, 0.95), 1)},
        "plan": plan,
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="bench.correlation", description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="small sizes (a minute or two)")
    p.add_argument("--seed", type=int, default=20261122)
    p.add_argument("--skip-quality", action="store_true")
    p.add_argument("--skip-speed", action="store_true")
    p.add_argument("--show-misses", action="store_true", help="print each alert whose cause is not ranked first")
    args = p.parse_args(argv)
    state = _setup_django()
    try:
        if not args.skip_quality:
            size = (60, 3.0, 60) if args.quick else (150, 7.0, 200)
            q = quality(args.seed, *size, show_misses=args.show_misses)
            print(f"== correlation quality (seed {args.seed}) ==")
            for k, v in q.items():
                if k != "results":
                    print(f"{k}: {v}")
            print(f"{'ranker':34} {'p@1':>6} {'p@3':>6} {'MRR':>6}")
            for name, r in q["results"].items():
                print(f"{name:34} {r['p@1']:6.3f} {r['p@3']:6.3f} {r['mrr']:6.3f}")
            _flush()
        if not args.skip_speed:
            s = speed(args.seed, *((200, 20_000, 30) if args.quick else (1000, 100_000, 60)))
            print("== correlation speed ==")
            for k, v in s.items():
                if k != "plan":
                    print(f"{k}: {v}")
            print("EXPLAIN ANALYZE of the candidate query (largest neighbourhood):")
            print(s["plan"])
    finally:
        _teardown(state)
    return 0


def _flush() -> None:
    from changetrack.models import Alert, Change, Dependency, HealthEpisode, Incident, Service

    Alert.objects.all().delete()
    Incident.objects.all().delete()
    Change.objects.all().delete()
    Dependency.objects.all().delete()
    HealthEpisode.objects.all().delete()
    Service.objects.all().delete()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
