"""Server time of the service page, the alert page, the explorer and the "what changed" feed on a database of
1 million events.

A throw-away database is filled in SQL (changes spread over 30 days across a few hundred services with a
dependency graph, plus alerts and health episodes), then each page is requested through Django's test client
(full middleware, view, queries and template) by a logged-in user, round-robin with two baselines measured in
the same run: ``/healthz`` (no session, no template) and a blank login-protected page (session, user, the base
template). The measurement is repeated ``--runs`` times; p50/p95 are the medians over the runs.
Target: p95 <= 150 ms for the service and alert pages. Then the search and the service map (``bench._map_search``):
search p95 at every change (target <= 150 ms) against a substring scan, and the map at 2,000 services and 10,000
edges, server time and time to first render in Chromium.

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

from bench import _map_search

TARGET_P95_MS = 150.0
BLANK_PATH = "/bench-blank/"
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


def _blank(request: Any) -> Any:
    """The baseline page: behind login, rendered from the base template with nothing in it."""
    from django.shortcuts import render

    return render(request, "base.html", {})


def _urls() -> list[Any]:
    """The app's URLs plus the blank page (this module is the ROOT_URLCONF while the benchmark runs)."""
    from django.contrib.auth.decorators import login_required
    from django.urls import include, path

    return [path(BLANK_PATH.strip("/") + "/", login_required(_blank)), path("", include("changetrack.urls"))]


def __getattr__(name: str) -> Any:  # Django reads ``urlpatterns`` lazily, after setup: build it then
    if name == "urlpatterns":
        return _urls()
    raise AttributeError(name)


def _setup_django() -> Any:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "changetrack.settings")
    import django

    django.setup()
    from django.conf import settings
    from django.test.utils import setup_databases, setup_test_environment

    # The test client needs the test environment ('testserver' allowed, locmem mail) whatever settings this
    # process loaded first: an earlier benchmark in the same run may have set them up for its production-like
    # children (ALLOWED_HOSTS without 'testserver', DEBUG off). DEBUG is pinned off, as in production.
    setup_test_environment(debug=False)
    settings.ROOT_URLCONF = __name__

    settings.DATABASES["default"].setdefault("TEST", {})["NAME"] = f"bench_web_{os.getpid()}"
    return setup_databases(verbosity=0, interactive=False)


def _teardown(state: Any) -> None:
    from django.test.utils import teardown_databases, teardown_test_environment

    teardown_databases(state, verbosity=0)
    teardown_test_environment()


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
            INSERT INTO changetrack_dependency
                (service_id, depends_on_id, provenance, evidence, confidence, connection_type, first_seen_at, last_seen_at)
            SELECT s.ids[i], s.ids[1 + ((i * k + 3) %% %s)], 'kubernetes', 'bench', 0.9, '', now(), now()
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
                   (%s::bigint[])[1 + (i * 31) %% %s], '{}',
                   -- what the search finds: a SHA, the new image and its tag, a flag key on flag changes
                   jsonb_build_object('rollout', jsonb_build_object('revision', 3), 'revision', i %% 20,
                       'new_image', 'registry.example.com/acme/svc-' || lpad(((i * 31) %% %s)::text, 4, '0')
                           || ':1.' || (i %% 50) || '.' || (i %% 7))
                   || CASE WHEN (i * 7) %% 12 = 3 THEN jsonb_build_object('flag', 'flag-' || (i %% 3000)) ELSE '{}' END,
                   '[{"path": "spec.replicas", "before": 4, "after": 6}]', '[]',
                   md5(i::text) || left(md5(i::text || 'x'), 8), '', '', now(), now()
            FROM generate_series(1, %s) i
        """,
            [SOURCES, KINDS, now, seconds, n_changes, n_services, ids, n_services, n_services, n_changes],
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
    """Time every case once per round, round-robin, so a busy machine slows the baselines and the pages alike."""
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


def run(n_changes: int, rounds: int, runs: int) -> int:
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.test import Client

    started = time.perf_counter()
    ids = generate(n_changes, n_services=300, days=30)
    print(
        f"generated {ids['changes']:,} changes (+ alerts and health episodes) in {time.perf_counter() - started:.1f} s"
    )
    from changetrack import roles

    user = get_user_model().objects.create_user("bench")  # force_login: no password needed
    roles.set_role(user, roles.VIEWER)  # every page behind a role
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
    service, alert = "service page, 24 h, depth 1 (default)", "alert page (default window, depth)"
    explorer, feed = "service explorer (300 services, page 1)", "what changed, last 60 min"
    cases = [
        ("baseline: /healthz (no session)", rotate(["/healthz"])),
        ("baseline: blank page behind login", rotate([BLANK_PATH])),
        (service, rotate([f"/services/{s}/" for s in ids["services"]])),
        ("service page, 7 d, depth 3", rotate([f"/services/{s}/?range=7d&depth=3" for s in ids["services"]])),
        ("service timeline JSON, 24 h, depth 1", rotate([f"/services/{s}/timeline.json" for s in ids["services"]])),
        ("service page's likely suspects (ranked now)", rotate([f"/services/{s}/likely/" for s in ids["services"]])),
        (alert, rotate([f"/alerts/{a}/" for a in ids["alerts"]])),
        ("alert page, 6 h, depth 2", rotate([f"/alerts/{a}/?depth=2" for a in ids["alerts"]])),
        (feed, rotate(["/changes/?minutes=60"])),
        (explorer, rotate(["/"])),
    ]
    load = os.getloadavg()[0]
    per_run = [measure(cases, rounds) for _ in range(runs)]
    timings = {
        name: (statistics.median(r[name][0] for r in per_run), statistics.median(r[name][1] for r in per_run))
        for name, _ in cases
    }
    base_p50 = timings[cases[1][0]][0]
    print(
        f"{runs} runs x {rounds} rounds, round-robin; medians over the runs; load average at start {load:.1f} on {os.cpu_count()} CPUs"
    )
    print(f"{'page':<44} {'p50 ms':>8} {'p95 ms':>8} {'p50 / blank page':>17}")
    for name, (p50, p95) in timings.items():
        print(f"{name:<44} {p50:8.1f} {p95:8.1f} {p50 / base_p50:16.1f}x")
    worst = max(timings[service][1], timings[alert][1])
    verdict = "OK" if worst <= TARGET_P95_MS else "OVER TARGET"
    print(
        f"target: service and alert page p95 <= {TARGET_P95_MS:.0f} ms -> worst default-page p95 {worst:.1f} ms: {verdict}"
    )
    print(
        f"(no target named) explorer p95 {timings[explorer][1]:.1f} ms, what-changed feed p95 {timings[feed][1]:.1f} ms"
    )
    _map_search.measure_search(get, ids["changes"], measure, rounds)
    started = time.perf_counter()
    _map_search.grow_graph()
    print(
        f"\ngrew the graph to {_map_search.MAP_SERVICES:,} services and {_map_search.MAP_EDGES:,} edges in {time.perf_counter() - started:.1f} s"
    )
    _map_search.measure_map_server(get, ids["alerts"][0], measure, rounds)
    quick = rounds < 40
    cookie = (settings.SESSION_COOKIE_NAME, client.cookies[settings.SESSION_COOKIE_NAME].value)
    _map_search.chromium_first_render(cookie, 3 if quick else 7, 20 if quick else _map_search.DAGRE_TIMEOUT_S)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench.web", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="50,000 changes and fewer rounds")
    parser.add_argument("--changes", type=int, default=None, help="number of changes to generate")
    parser.add_argument("--rounds", type=int, default=None, help="timed requests per page and run")
    parser.add_argument("--runs", type=int, default=3, help="repeat the measurement; medians over the runs")
    args = parser.parse_args(argv)
    n_changes = args.changes or (50_000 if args.quick else 1_000_000)
    rounds = args.rounds or (15 if args.quick else 40)
    state = _setup_django()
    try:
        return run(n_changes, rounds, max(1, args.runs))
    finally:
        _teardown(state)


if __name__ == "__main__":
    sys.exit(main())
