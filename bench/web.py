"""Server time of the service page and the alert page on a database of 1 million events.

A throw-away database is filled in SQL (changes spread over 30 days across a few hundred services with a
dependency graph, plus alerts and health episodes), then each page is requested through Django's test client
(full middleware, view, queries and template) by a logged-in user, and p50/p95 are printed next to a trivial
page (the login form) measured in the same run. Target: p95 <= 150 ms for both pages.

    python -m bench.web            # 1,000,000 changes
    python -m bench.web --quick    # 50,000 changes
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

TARGET_P95_MS = 150.0
KINDS = [
    "deploy",
    "deploy",
    "config",
    "feature_flag",
    "scale",
    "autoscale",
    "ci",
    "commit",
    "secret",
    "infra",
    "db_migration",
    "custom",
]
SOURCES = ["kubernetes", "github", "jenkins", "launchdarkly", "argocd"]


def _setup_django() -> Any:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "changetrack.settings")
    import django

    django.setup()
    from django.conf import settings
    from django.test.utils import setup_databases

    settings.DATABASES["default"].setdefault("TEST", {})["NAME"] = f"bench_web_{os.getpid()}"
    return setup_databases(verbosity=0, interactive=False)


def _teardown(state: Any) -> None:
    from django.test.utils import teardown_databases

    teardown_databases(state, verbosity=0)


def generate(n_changes: int, n_services: int, days: int) -> dict[str, Any]:
    """Fill the database in SQL; returns ids to request. Every insert is one INSERT ... SELECT."""
    from django.db import connection
    from django.utils import timezone

    from changetrack import partitions
    from changetrack.models import Cluster, Service

    now = timezone.now()
    clusters = [Cluster.objects.create(name=f"bench-{i}") for i in range(3)]
    Service.objects.bulk_create(
        [
            Service(
                cluster=clusters[i % 3],
                namespace=f"ns{i % 7}",
                name=f"svc-{i:04d}",
                team=f"team-{i % 12}",
                repository=f"acme/svc-{i:04d}",
            )
            for i in range(n_services)
        ]
    )
    ids = list(Service.objects.order_by("id").values_list("id", flat=True))
    partitions.ensure_for("changetrack_change", [now - timedelta(days=d) for d in range(days + 1)])
    seconds = days * 86400
    with connection.cursor() as cur:
        # each service calls two others: a sparse graph where depth 1-3 reaches a handful to a few dozen services
        cur.execute(
            """
            INSERT INTO changetrack_dependency (service_id, depends_on_id, provenance, evidence, confidence, first_seen_at, last_seen_at)
            SELECT s.ids[i], s.ids[1 + ((i * k + 3) %% %s)], 'kubernetes', 'bench', 0.9, now(), now()
            FROM (SELECT %s::bigint[] AS ids) s, generate_series(1, %s) i, (VALUES (1), (7)) AS m(k)
            WHERE s.ids[i] <> s.ids[1 + ((i * k + 3) %% %s)]
            ON CONFLICT DO NOTHING
        """,
            [n_services, ids, n_services, n_services],
        )
        cur.execute(
            """
            INSERT INTO changetrack_change (source, external_id, kind, occurred_at, ended_at, summary, actor, severity, status,
                service_id, service_hint, details, diff, links, commit_sha, repository, release_key, created_at, updated_at)
            SELECT (%s::text[])[1 + i %% 5], 'bench-' || i, (%s::text[])[1 + (i * 7) %% 12],
                   %s::timestamptz - make_interval(secs => (i::float8 * %s / %s)), NULL,
                   'Bench change ' || i || ' on service ' || (i %% %s), 'dev' || (i %% 40) || '@example.com', 'info', '',
                   (%s::bigint[])[1 + (i * 31) %% %s], '{}', '{"rollout": {"revision": 3}}',
                   '[{"path": "spec.replicas", "before": 4, "after": 6}]', '[]', '', '', '', now(), now()
            FROM generate_series(1, %s) i
        """,
            [SOURCES, KINDS, now, seconds, n_changes, n_services, ids, n_services, n_changes],
        )
        n_alerts = max(n_changes // 100, 50)
        cur.execute(
            """
            INSERT INTO changetrack_alert (source, external_id, title, severity, status, started_at, acknowledged_at, resolved_at,
                last_event_at, trigger_count, service_id, service_hint, labels, details, links, url, created_at, updated_at)
            SELECT 'bench', 'alert-' || i, 'Error rate high on ' || (i %% %s), 'error',
                   CASE WHEN i <= 20 THEN 'triggered' ELSE 'resolved' END,
                   %s::timestamptz - make_interval(secs => (i::float8 * %s / %s)), NULL,
                   CASE WHEN i <= 20 THEN NULL ELSE %s::timestamptz - make_interval(secs => (i::float8 * %s / %s)) + interval '25 minutes' END,
                   %s::timestamptz, 1, (%s::bigint[])[1 + (i * 13) %% %s], '{}', '{}', '{}', '[]', '', now(), now()
            FROM generate_series(1, %s) i
        """,
            [n_services, now, seconds, n_alerts, now, seconds, n_alerts, now, ids, n_services, n_alerts],
        )
        cur.execute(
            """
            INSERT INTO changetrack_healthepisode (source, service_id, reason, severity, summary, started_at, ended_at, last_seen_at, details, created_at)
            SELECT 'kubernetes', (%s::bigint[])[1 + (i * 17) %% %s], 'CrashLoopBackOff', 'warning', 'pods restarting',
                   %s::timestamptz - make_interval(secs => (i::float8 * %s / %s)),
                   %s::timestamptz - make_interval(secs => (i::float8 * %s / %s)) + interval '12 minutes',
                   %s::timestamptz, '{}', now()
            FROM generate_series(1, %s) i
        """,
            [ids, n_services, now, seconds, n_alerts, now, seconds, n_alerts, now, n_alerts],
        )
        cur.execute("ANALYZE")
        cur.execute("SELECT count(*) FROM changetrack_change")
        total = cur.fetchone()[0]
        cur.execute("SELECT id FROM changetrack_alert WHERE status = 'triggered' ORDER BY id LIMIT 10")
        alert_ids = [r[0] for r in cur.fetchall()]
    return {"services": ids[:: max(1, len(ids) // 10)][:10], "alerts": alert_ids, "changes": total}


def measure(cases: list[tuple[str, Callable[[], Any]]], rounds: int, warmup: int = 2) -> dict[str, tuple[float, float]]:
    """Time every case once per round, round-robin, so a busy machine slows the baseline and the pages alike."""
    samples: dict[str, list[float]] = {name: [] for name, _ in cases}
    for i in range(warmup + rounds):
        for name, fn in cases:
            start = time.perf_counter()
            fn()
            if i >= warmup:
                samples[name].append((time.perf_counter() - start) * 1000)
    out = {}
    for name, values in samples.items():
        values.sort()
        out[name] = (statistics.median(values), values[min(len(values) - 1, int(round(0.95 * (len(values) - 1))))])
    return out


def run(n_changes: int, rounds: int) -> int:
    from django.contrib.auth import get_user_model
    from django.test import Client

    started = time.perf_counter()
    ids = generate(n_changes, n_services=300, days=30)
    print(
        f"generated {ids['changes']:,} changes (+ alerts and health episodes) in {time.perf_counter() - started:.1f} s"
    )
    user = get_user_model().objects.create_user("bench")  # force_login: no password needed
    client = Client()
    client.force_login(user)

    def get(path: str) -> Callable[[], Any]:
        def call() -> Any:
            response = client.get(path)
            assert response.status_code == 200, (path, response.status_code)
            return response

        return call

    def rotate(paths: list[str]) -> Callable[[], Any]:
        state = {"i": 0}

        def call() -> Any:
            state["i"] += 1
            return get(paths[state["i"] % len(paths)])()

        return call

    for alert_id in ids["alerts"]:  # suspects are computed once per alert, then read: rank them before timing
        get(f"/alerts/{alert_id}/")()
    cases = [
        ("baseline: login page (trivial template)", rotate(["/login/"])),
        ("service page, 24 h, depth 1 (default)", rotate([f"/services/{s}/" for s in ids["services"]])),
        ("service page, 7 d, depth 3", rotate([f"/services/{s}/?range=7d&depth=3" for s in ids["services"]])),
        ("service timeline JSON, 24 h, depth 1", rotate([f"/services/{s}/timeline.json" for s in ids["services"]])),
        ("alert page, 6 h, depth 1 (default)", rotate([f"/alerts/{a}/" for a in ids["alerts"]])),
        ("alert page, 6 h, depth 2", rotate([f"/alerts/{a}/?depth=2" for a in ids["alerts"]])),
        ("what changed, last 60 min", rotate(["/changes/?minutes=60"])),
        ("service explorer (300 services)", rotate(["/"])),
    ]
    load = os.getloadavg()[0]
    timings = measure(cases, rounds)
    base_p50 = timings[cases[0][0]][0]
    print(f"{rounds} rounds, round-robin; load average at start {load:.1f} on {os.cpu_count()} CPUs")
    print(f"{'page':<44} {'p50 ms':>8} {'p95 ms':>8} {'p50 / baseline':>15}")
    for name, (p50, p95) in timings.items():
        print(f"{name:<44} {p50:8.1f} {p95:8.1f} {p50 / base_p50:14.1f}x")
    worst = max(timings["service page, 24 h, depth 1 (default)"][1], timings["alert page, 6 h, depth 1 (default)"][1])
    verdict = "OK" if worst <= TARGET_P95_MS else "OVER TARGET"
    print(
        f"target: service and alert page p95 <= {TARGET_P95_MS:.0f} ms -> worst default-page p95 {worst:.1f} ms: {verdict}"
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench.web", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="50,000 changes and fewer rounds")
    parser.add_argument("--changes", type=int, default=None, help="number of changes to generate")
    parser.add_argument("--rounds", type=int, default=None, help="timed requests per page")
    args = parser.parse_args(argv)
    n_changes = args.changes or (50_000 if args.quick else 1_000_000)
    rounds = args.rounds or (15 if args.quick else 40)
    state = _setup_django()
    try:
        return run(n_changes, rounds)
    finally:
        _teardown(state)


if __name__ == "__main__":
    sys.exit(main())
