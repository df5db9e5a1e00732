"""Correlation benchmark: ranking quality on labelled scenarios, and suspects latency at scale.

    python -m bench correlation [--quick] [--seed=N] [--seeds=5] [--fit] [--skip-quality] [--skip-speed]
                                [--skip-feedback] [--show-misses]

Quality, over ``--seeds`` evaluation seeds (mean ± sd): a generated service graph (150 services in teams and
namespaces), a week of background changes of every kind and every source's shapes, injected incidents 0–3 hops
away and in reverse, hidden edges, confounders, alerts on the path, and alerts with no change behind them (see
``bench/_correlation_scenarios.py``). For each labelled alert: precision@1 and @3 and MRR, by relation and by
cause kind, for the engine and three baselines on the same data in the same run: (a) the most recent change on
the alerting service; (b) the 3 most recent changes in 24 h on the alerting service and its direct dependencies;
(c) time × hops × kind over the known graph within 3 hops. Abstention AUC: the top suspect's score on
change-caused alerts against alerts with no change behind them. Expected calibration error over the top 10
suspects of both. The feedback run: verdicts through the API (``POST /api/v1/alerts/{id}/feedback``, as a
responder would after reading the suspects) on the first half of each seed's incidents, then the second half is
ranked; P@1 before (shipped weights) and after (refitted from the verdicts).

``--fit`` refits the shipped weights (``changetrack/correlation/model_weights.json``) on seeds 1000 above the
first evaluation seed: never the ones evaluated.

Speed: 1,000 services, 100,000 changes in the last 24 h; suspects for one alert, p50/p95 (target p95 ≤ 25 ms):
compute only (``rank``), compute and store (what runs when an alert arrives), and the read path (stored
suspects checked for staleness and read), next to a baseline (fetching every candidate row with the ORM, as
the first engine did), with the candidate query's EXPLAIN (ANALYZE, BUFFERS) for the largest neighbourhood.

Runs in its own database (``bench_correlation_<pid>``), created and dropped here.
"""

from __future__ import annotations

import argparse
import dataclasses
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


def load(sc: Any, now: datetime) -> tuple[dict[str, int], list[tuple[int, str, str]], list[int]]:
    """Store a scenario through the real paths. Returns change key → id, (alert id, cause key, relation) of the
    labelled alerts, and the ids of the alerts with no change behind them."""
    from changetrack import partitions
    from changetrack.ingest.store import store_records
    from changetrack.models import Dependency, HealthEpisode, Service
    from changetrack.resolution import ServiceResolver
    from integrations.base import AlertRecord, ChangeRecord, ServiceHint

    Service.objects.bulk_create(
        [
            Service(namespace=f"team-{s.team}", team=f"team-{s.team}", name=s.name, workload_kind="Deployment")
            for s in sc.services
        ]
    )
    ids = dict(Service.objects.values_list("name", "id"))
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
    hints = [ServiceHint(name=s.name, namespace=f"team-{s.team}") for s in sc.services]
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
    noise = store_records(
        [
            AlertRecord(
                source="bench",
                external_id=f"{prefix}-{n}",
                title=f"Errors on {sc.services[s].name}",
                status="triggered",
                occurred_at=at,
                started_at=at,
                service=hints[s],
            )
            for prefix, alerts in (("noise", sc.noise_alerts), ("path", sc.path_alerts))
            for n, (s, at) in enumerate(alerts)
        ],
        resolver=resolver,
    ).alerts
    return keys, labelled, [aid for aid, _ in noise[: len(sc.noise_alerts)]]


def _anchor() -> datetime:
    """The moment a labelled scenario ends: today's midnight (UTC). The scenarios place people's changes in working
    hours of the day they fall on, so ending them at the wall-clock moment moved a few changes across days between
    two runs of the same seed (the engine's P@1 varied by about a point with no code change); from midnight every
    run of a seed stores the same changes at the same distances from its alerts."""
    from datetime import UTC

    return datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


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


def _baseline_time_hops_kind(alert: Any, limit: int = 10) -> list[int]:
    """Baseline (c): every change in the 24 h before the alert on a service within 3 hops, scored time × hops ×
    kind (the time decay, the graph's direction/hops weight, the kind's base risk; no magnitude, no evidence)."""
    from changetrack.correlation import graph, scoring
    from changetrack.models import Change

    rels = graph.relations(alert.service_id)
    rows = Change.objects.filter(
        service_id__in=list(rels),
        occurred_at__gte=alert.started_at - timedelta(hours=24),
        occurred_at__lte=alert.started_at + timedelta(minutes=5),
    ).values_list("id", "service_id", "kind", "occurred_at")
    scored = []
    for cid, sid, kind, at in rows:
        rel = rels[sid]
        hops = graph.WEIGHTS[rel.direction][min(rel.hops, graph.MAX_DEPTH)]
        t = scoring.time_score(scoring.minutes_between(at, alert.started_at))
        scored.append((t * hops * scoring.RISK_BASE.get(kind, scoring.RISK_DEFAULT), cid))
    scored.sort(reverse=True)
    return [cid for _, cid in scored[:limit]]


def features(r: Any) -> Any:
    """The model's view of one ranked suspect (for fitting and calibration)."""
    from changetrack.correlation import model

    c = r.components
    fb = c.get("feedback", 0.0)
    return model.Candidate(
        c["time"],
        c["graph"],
        c["risk"],
        c.get("fresh", 0.0),
        c.get("path", 0.0),
        fb if abs(fb) < 1 else 0.0,
        r.change.kind,
        r.direction,
        c.get("early", 0.0),
        c.get("failed", 0.0),
        c.get("health", 0.0),
    )


def auc(positives: list[float], negatives: list[float]) -> float:
    """Probability that a random positive outscores a random negative (ties count half)."""
    if not positives or not negatives:
        return float("nan")
    neg = sorted(negatives)
    import bisect

    total = 0.0
    for p in positives:
        lo, hi = bisect.bisect_left(neg, p), bisect.bisect_right(neg, p)
        total += lo + (hi - lo) / 2
    return total / (len(positives) * len(negatives))


def ece(pairs: list[tuple[float, int]], bins: int = 10) -> float:
    """Expected calibration error: |mean predicted − observed rate| per equal-width bin, weighted by its size."""
    if not pairs:
        return float("nan")
    acc: list[list[float]] = [[0.0, 0.0, 0.0] for _ in range(bins)]
    for p, y in pairs:
        b = acc[min(bins - 1, int(p * bins))]
        b[0] += p
        b[1] += y
        b[2] += 1
    return sum(abs(b[0] - b[1]) for b in acc if b[2]) / len(pairs)


RANKERS = ("engine", "baseline_a_latest_on_service", "baseline_b_3_latest_with_deps", "baseline_c_time_hops_kind")


def quality(
    seed: int,
    n_services: int,
    days: float,
    n_incidents: int,
    show_misses: bool = False,
    feedback_run: bool = True,
    noise_sample: int = 150,
) -> dict[str, Any]:
    """One seed: rank every labelled alert and a sample of the alerts with no change behind them; then the
    feedback run (verdicts through the API on the first half, rank the second half)."""
    from bench._correlation_scenarios import generate
    from changetrack.correlation import engine, graph
    from changetrack.models import Alert, Change

    now = _anchor()
    sc = generate(seed, n_services, days, n_incidents, now)
    t0 = time.perf_counter()
    keys, labelled, noise = load(sc, now)
    load_s = time.perf_counter() - t0
    kinds = dict(Change.objects.filter(pk__in=list(keys.values())).values_list("id", "kind"))
    sums: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0, 0.0])
    by_rel: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0, 0.0, 0.0])
    by_kind: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0, 0.0, 0.0])
    tops_caused: list[float] = []
    tops_noise: list[float] = []
    calibration: list[tuple[float, int]] = []
    first_hit: dict[int, float] = {}
    for alert_id, cause_key, relation in labelled:
        cause = keys[cause_key]
        alert = Alert.objects.select_related("service").get(pk=alert_id)
        full = engine.rank(alert, limit=10)
        ranked = [r.change.id for r in full]
        if show_misses and (not ranked or ranked[0] != cause):
            print(_describe_miss(alert, full, cause, relation))
        a, b = _baselines(alert_id)
        for name, lst in zip(RANKERS, (ranked, a, b, _baseline_time_hops_kind(alert)), strict=True):
            p1, p3, rr = _score(lst, cause)
            acc = sums[name]
            acc[0] += p1
            acc[1] += p3
            acc[2] += rr
        p1, p3, rr = _score(ranked, cause)
        first_hit[alert_id] = p1
        change_service = Change.objects.filter(pk=cause).values_list("service_id", flat=True).first()
        hidden = change_service not in graph.relations(alert.service_id)
        for table, key in ((by_rel, relation + (" (no known edge)" if hidden else "")), (by_kind, kinds[cause])):
            row = table[key]
            row[0] += p1
            row[1] += p3
            row[2] += rr
            row[3] += 1
        tops_caused.append(full[0].score if full else 0.0)
        calibration += [(r.score, int(r.change.id == cause)) for r in full]
    rng = random.Random(seed)
    for alert_id in rng.sample(noise, min(noise_sample, len(noise))):
        alert = Alert.objects.select_related("service").get(pk=alert_id)
        full = engine.rank(alert, limit=10)
        tops_noise.append(full[0].score if full else 0.0)
        calibration += [(r.score, 0) for r in full]
    n = len(labelled)
    out: dict[str, Any] = {
        "services": n_services,
        "edges_true": len(sc.true_edges),
        "edges_known": len(sc.known_edges),
        "changes": len(sc.changes),
        "days": days,
        "labelled_alerts": n,
        "no_change_alerts_ranked": len(tops_noise),
        "load_seconds": round(load_s, 1),
        "results": {k: {"p@1": v[0] / n, "p@3": v[1] / n, "mrr": v[2] / n} for k, v in sums.items()},
        "by_relation": {k: v for k, v in by_rel.items()},
        "by_kind": {k: v for k, v in by_kind.items()},
        "abstention_auc": auc(tops_caused, tops_noise),
        "ece": ece(calibration),
    }
    if feedback_run:
        out["feedback"] = _feedback_run(labelled, keys, first_hit)
    return out


def _feedback_run(
    labelled: list[tuple[int, str, str]], keys: dict[str, int], before: dict[int, float]
) -> dict[str, Any]:
    """A responder reads the suspects (GET, which stores them) of the first half of the incidents (by time) and
    posts verdicts through the API: "caused" on the true cause, "unrelated" on a wrong top suspect. Then the
    second half is ranked: P@1 before (shipped weights, from the main run) and after."""
    from django.test import Client

    from changetrack.correlation import engine, tuning
    from changetrack.models import Alert, ApiToken

    _, token = ApiToken.issue("bench-feedback", ["read", "write"], 1_000_000)
    client = Client(HTTP_AUTHORIZATION=f"Bearer {token}")
    started = dict(Alert.objects.filter(pk__in=[a for a, _, _ in labelled]).values_list("id", "started_at"))
    ordered = sorted(labelled, key=lambda x: started[x[0]])
    half = len(ordered) // 2
    first, second = ordered[:half], ordered[half:]
    posted = 0
    for alert_id, cause_key, _ in first:
        got = client.get(f"/api/v1/alerts/{alert_id}/suspects?limit=10")
        assert got.status_code == 200, got.content
        suspects = got.json()["suspects"]
        cause = keys[cause_key]
        verdicts = [(cause, "caused")]
        if suspects and suspects[0]["change"]["id"] != cause:
            verdicts.append((suspects[0]["change"]["id"], "unrelated"))
        for change_id, verdict in verdicts:
            r = client.post(
                f"/api/v1/alerts/{alert_id}/feedback",
                {"change_id": change_id, "verdict": verdict},
                content_type="application/json",
            )
            assert r.status_code in (200, 201), r.content
            posted += 1
    model = tuning.current()
    after = [
        float(bool((rk := engine.rank(Alert.objects.get(pk=a), limit=1)) and rk[0].change.id == keys[c]))
        for a, c, _ in second
    ]
    return {
        "verdicts_posted": posted,
        "model_refitted_from": model.verdicts,
        "second_half": len(second),
        "p@1_before": sum(before[a] for a, _, _ in second) / max(1, len(second)),
        "p@1_after": sum(after) / max(1, len(after)),
    }


def fit(seeds: list[int], size: tuple[int, float, int], passes: int = 2) -> dict[str, Any]:
    """Fit the shipped weights on ``seeds`` (never the evaluation seeds): every labelled alert's and a sample of
    the no-change alerts' top 30 suspects as (features, caused?) samples; a weak prior on the current weights;
    the abstention threshold where the top suspect best separates change-caused alerts from no-change ones."""
    import json as _json

    from bench._correlation_scenarios import generate
    from changetrack.correlation import engine, model, tuning
    from changetrack.models import Alert

    for _ in range(passes):
        samples: list[tuple[Any, int]] = []
        groups: list[tuple[list[Any], bool]] = []  # (candidates, change-caused?)
        for seed in seeds:
            now = _anchor()
            sc = generate(seed, *size, now)
            keys, labelled, noise = load(sc, now)
            for alert_id, cause_key, _ in labelled:
                ranked = engine.rank(Alert.objects.get(pk=alert_id), limit=30)
                cands = [(features(r), int(r.change.id == keys[cause_key])) for r in ranked]
                samples += cands
                groups.append(([c for c, _ in cands], True))
            for alert_id in random.Random(seed).sample(noise, min(150, len(noise))):
                ranked = engine.rank(Alert.objects.get(pk=alert_id), limit=30)
                cands = [(features(r), 0) for r in ranked]
                samples += cands
                groups.append(([c for c, _ in cands], False))
            _flush()
        prior = dataclasses.replace(model.shipped(), kinds={}, directions={})  # biases centred on zero
        # the shape weights from the data alone; kind and direction biases with a unit prior: a class with no
        # cause among the scenarios (siblings through a shared dependency) must not be driven to minus infinity
        fitted = model.fit(samples, prior, strength=model.strengths(shape=0.01, local=1.0), iterations=40)
        tops = [(max((fitted.probability(c) for c in cands), default=0.0), caused) for cands, caused in groups]
        threshold = _best_threshold(tops)
        ref = _reference(samples)
        result = model.Model(fitted.bias, fitted.weights, fitted.kinds, fitted.directions, threshold, ref, 0)
        model.WEIGHTS_FILE.write_text(_json.dumps(result.to_dict(), indent=1) + "\n")
        model.shipped.cache_clear()
        tuning._cache = None
    return {"samples": len(samples), "alerts": len(groups), **model.shipped().to_dict()}


def dump(seed: int, size: tuple[int, float, int], out: Any, fitting: bool, limit: int = 40) -> int:
    """One seed's alerts (labelled, and a sample of the no-change ones) with their top ``limit`` candidates, one
    JSON line per candidate: the model's features, what they were made of (minutes, hops, magnitude notes), the
    engine's score and the label. For offline analysis of what any ranker could reach (``bench/_ceiling.py``)."""
    import json as _json

    from bench._correlation_scenarios import generate
    from changetrack.correlation import engine, magnitude, scoring
    from changetrack.models import Alert

    now = _anchor()
    sc = generate(seed, *size, now)
    keys, labelled, noise = load(sc, now)
    sample = random.Random(seed).sample(noise, min(150, len(noise)))
    written = 0
    for alert_id, cause, relation in [*((a, keys[c], rel) for a, c, rel in labelled), *((a, 0, "") for a in sample)]:
        alert = Alert.objects.get(pk=alert_id)
        ranked = engine.rank(alert, limit=limit)
        head = {"seed": seed, "fit": fitting, "alert": alert_id, "caused": bool(cause), "relation": relation}
        if not ranked:
            out.write(_json.dumps({**head, "empty": True}) + "\n")
        for r in ranked:
            row = {
                **head,
                "y": int(r.change.id == cause),
                "kind": r.change.kind,
                "direction": r.direction,
                "hops": r.hops,
                "minutes": scoring.minutes_between(r.change.occurred_at, alert.started_at),
                "components": r.components,
                "magnitude": magnitude.read(r.change.kind, r.change.diff, r.change.details).notes,
                "score": r.score,
            }
            out.write(_json.dumps(row) + "\n")
            written += 1
    return written


def _best_threshold(tops: list[tuple[float, bool]]) -> float:
    """The threshold maximising (true positive rate − false positive rate) of "a change stands out"."""
    pos = [p for p, c in tops if c]
    neg = [p for p, c in tops if not c]
    best, at = -1.0, 0.5
    for t in sorted({round(p, 3) for p, _ in tops}):
        j = sum(p >= t for p in pos) / max(1, len(pos)) - sum(p >= t for p in neg) / max(1, len(neg))
        if j > best:
            best, at = j, t
    return at


def _reference(samples: list[tuple[Any, int]]) -> dict[str, float]:
    """A typical candidate: the geometric mean of the log features, the mean of the others."""
    import math

    from changetrack.correlation import model

    n = max(1, len(samples))
    ref = {
        name: math.exp(sum(math.log(max(getattr(c, name), model.FLOOR)) for c, _ in samples) / n)
        for name in model.LOG_FEATURES
    }
    ref.update({name: sum(getattr(c, name) for c, _ in samples) / n for name in model.LINEAR_FEATURES})
    return ref


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
    from changetrack.correlation import candidates, engine, tuning
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
    names = [(s.name, f"team-{s.team}") for s in rng.sample(sc.services, samples)]
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
            service=ServiceHint(name=name, namespace=namespace),
        )
        for i, (name, namespace) in enumerate(names)
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
        hood = engine.related(alert.service_id)
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
    rels = engine.related(alert.service_id)
    model = tuning.current()
    bounds = engine.bounds(model)
    terms = {s: model.service_term(r.weight, r.direction, model.headroom(False)) for s, r in rels.items()}
    recent = alert.started_at - timedelta(minutes=engine.RECENT_MINUTES)
    first = {
        sid: (since if rels[sid].weight >= engine.STRONG else max(since, recent), until)
        for sid, (since, until) in candidates.ranges(alert.started_at, terms, 24 * 60, bounds).items()
    }
    plan = candidates.explain(alert.started_at, terms, first, bounds, engine.PAGE)
    in_24h = Change.objects.filter(occurred_at__gte=now - timedelta(hours=24)).count()
    return {
        "machine_load_average_1_5_15": [round(x, 1) for x in os.getloadavg()],
        "cpus": os.cpu_count(),
        "services": Service.objects.count(),
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


def _mean(values: list[float]) -> float:
    return statistics.fmean(values) if values else float("nan")


def _sd(values: list[float]) -> float:
    return statistics.stdev(values) if len(values) > 1 else 0.0


def _report(runs: list[dict[str, Any]], seeds: list[int]) -> None:
    print(f"== correlation quality (seeds {seeds}; mean ± sd over seeds) ==")
    first = runs[0]
    for k in ("services", "edges_true", "edges_known", "changes", "days"):
        print(f"{k}: {first[k]}")
    print(f"labelled_alerts per seed: {[r['labelled_alerts'] for r in runs]}")
    print(f"no_change_alerts ranked per seed: {[r['no_change_alerts_ranked'] for r in runs]}")
    print(f"{'ranker':34} {'p@1':>13} {'p@3':>13} {'MRR':>13}")
    for name in RANKERS:
        cells = []
        for metric in ("p@1", "p@3", "mrr"):
            vals = [r["results"][name][metric] for r in runs]
            cells.append(f"{_mean(vals):6.3f} ± {_sd(vals):4.3f}")
        print(f"{name:34} " + " ".join(cells))
    for title, key in (("engine by relation", "by_relation"), ("engine by cause kind", "by_kind")):
        print(f"-- {title} (pooled over seeds): p@1 p@3 MRR (n)")
        pooled: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0, 0.0, 0.0])
        for r in runs:
            for k, v in r[key].items():
                pooled[k] = [a + b for a, b in zip(pooled[k], v, strict=True)]
        for k, (p1, p3, rr, n) in sorted(pooled.items()):
            print(f"   {k:34} {p1 / n:6.3f} {p3 / n:6.3f} {rr / n:6.3f} (n={int(n)})")
    aucs = [r["abstention_auc"] for r in runs]
    eces = [r["ece"] for r in runs]
    print(f"abstention AUC (top score, change-caused vs no-change alerts): {_mean(aucs):.3f} ± {_sd(aucs):.3f}")
    print(f"expected calibration error (top-10 suspects, 10 bins): {_mean(eces):.3f} ± {_sd(eces):.3f}")
    fb = [r["feedback"] for r in runs if "feedback" in r]
    if fb:
        before = [f["p@1_before"] for f in fb]
        after = [f["p@1_after"] for f in fb]
        print(
            f"feedback run (verdicts through the API on the first half, second half ranked): "
            f"p@1 before {_mean(before):.3f} → after {_mean(after):.3f} "
            f"({100 * (_mean(after) - _mean(before)):+.1f} points); per seed "
            + ", ".join(f"{b:.2f}→{a:.2f}" for b, a in zip(before, after, strict=True))
            + f"; verdicts posted {[f['verdicts_posted'] for f in fb]}"
        )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="bench.correlation", description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="small sizes (a minute or two)")
    p.add_argument("--seed", type=int, default=20261122, help="the first evaluation seed")
    p.add_argument("--seeds", type=int, default=5, help="evaluation seeds (seed, seed+1, ...)")
    p.add_argument("--fit", action="store_true", help="refit the shipped weights on seeds 1000+ (not evaluated)")
    p.add_argument("--skip-quality", action="store_true")
    p.add_argument("--skip-speed", action="store_true")
    p.add_argument("--skip-feedback", action="store_true")
    p.add_argument("--show-misses", action="store_true", help="print each alert whose cause is not ranked first")
    p.add_argument(
        "--dump",
        metavar="FILE",
        help="write every labelled and no-change alert's top 40 candidates with their features (fit and evaluation "
        "seeds) as JSON lines to FILE, then stop; bench/_ceiling.py reads it",
    )
    args = p.parse_args(argv)
    state = _setup_django()
    try:
        size = (60, 3.0, 60) if args.quick else (150, 7.0, 200)
        if args.dump:
            fit_seeds = [args.seed + 1000 + i for i in range(4)]
            with open(args.dump, "w") as out:
                for seed in fit_seeds + [args.seed + i for i in range(args.seeds)]:
                    print(f"seed {seed}: {dump(seed, size, out, seed in fit_seeds)} candidates", flush=True)
                    _flush()
            return 0
        if args.fit:
            fit_seeds = [args.seed + 1000 + i for i in range(4)]
            print(f"== fitted on seeds {fit_seeds} ==")
            print(fit(fit_seeds, size))
            _flush()
        if not args.skip_quality:
            seeds = [args.seed + i for i in range(args.seeds)]
            runs = []
            for seed in seeds:
                runs.append(quality(seed, *size, show_misses=args.show_misses, feedback_run=not args.skip_feedback))
                _flush()
            _report(runs, seeds)
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
    from changetrack.models import Alert, ApiToken, Change, Dependency, Feedback, HealthEpisode, Incident, Service

    Feedback.objects.all().delete()
    ApiToken.objects.all().delete()
    Alert.objects.all().delete()
    Incident.objects.all().delete()
    Change.objects.all().delete()
    Dependency.objects.all().delete()
    HealthEpisode.objects.all().delete()
    Service.objects.all().delete()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
