"""REST API benchmark: bulk POST /api/v1/changes and the timeline read, over real HTTP to a gunicorn it starts.

1. Bulk writes: arrays of 1,000 changes POSTed to gunicorn (1 worker, 1 thread), changes stored per second,
   next to ``executemany`` of the same rows into the same table, on the same server, in the same run.
2. Timeline reads: ``GET /api/v1/services/{id}/timeline?depth=2`` over a 24 h window on a change table of
   10 million rows (``--quick``: 300,000) generated with ``INSERT ... SELECT generate_series``; p50/p95 latency
   over random services, and the EXPLAIN ANALYZE plan of the change query the view runs.

Everything happens in a throwaway database (``changetrack_bench_api``) on the configured/embedded PostgreSQL,
dropped and re-created at the start. Run: ``python -m bench.api [--quick]``.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
import requests

from integrations.base import CHANGE_KINDS

ROOT = Path(__file__).resolve().parent.parent
BENCH_DB = "changetrack_bench_api"
KINDS = sorted(CHANGE_KINDS)
CHANGE_COLUMNS = (
    "source",
    "external_id",
    "kind",
    "occurred_at",
    "ended_at",
    "summary",
    "actor",
    "severity",
    "status",
    "service_id",
    "service_hint",
    "details",
    "diff",
    "links",
    "commit_sha",
    "repository",
    "release_key",
    "created_at",
    "updated_at",
)


def _server_urls() -> tuple[str, str]:
    sys.path.insert(0, str(ROOT))
    from changetrack import embedded

    embedded.configure_environment()
    return os.environ["DATABASE_URL"], os.environ["REDIS_URL"]


def _with_db(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))


def _with_redis_db(url: str, db: int) -> str:
    base = url.split("?")[0]
    return f"{base}?db={db}" if base.startswith("unix://") else f"{base.rstrip('/').rsplit('/', 1)[0]}/{db}"


def _recreate_database(admin_url: str) -> None:
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{BENCH_DB}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{BENCH_DB}"')


def _manage(env: dict[str, str], *args: str) -> str:
    out = subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, check=True, capture_output=True, text=True
    )
    return out.stdout


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _start_gunicorn(env: dict[str, str]) -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    gunicorn = str(Path(sys.executable).parent / "gunicorn")
    proc = subprocess.Popen(
        [
            gunicorn,
            "changetrack.wsgi:application",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            "1",
            "--threads",
            "1",
            "--timeout",
            "300",
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=env,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            if requests.get(f"{base}/healthz", timeout=10).status_code == 200:
                return proc, base
        except requests.RequestException:  # not listening yet, or still importing the app on a busy machine
            time.sleep(0.5)
    proc.terminate()
    proc.wait(timeout=30)
    raise RuntimeError("gunicorn did not come up within 120 s")


def _create_partitions(conn: psycopg.Connection[Any], days: int) -> None:
    """Daily partitions named like ``changetrack.partitions`` names them, so the app sees them as existing."""
    today = datetime.now(UTC).date()
    for offset in range(-days - 1, 3):
        day = today + timedelta(days=offset)
        lo = datetime(day.year, day.month, day.day, tzinfo=UTC)
        conn.execute(
            f'CREATE TABLE IF NOT EXISTS "changetrack_change_p{day:%Y%m%d}" PARTITION OF changetrack_change '
            f"FOR VALUES FROM ('{lo.isoformat()}') TO ('{(lo + timedelta(days=1)).isoformat()}')"
        )
    conn.commit()


def _change_body(i: int, prefix: str, now: datetime) -> dict[str, Any]:
    at = now - timedelta(seconds=random.randint(600, 23 * 3600))
    return {
        "service": {"name": f"svc-{i % 50}", "namespace": "bench", "cluster": "bench"},
        "kind": KINDS[i % len(KINDS)],
        "summary": f"{prefix} change {i} with a realistic summary length",
        "timestamp": at.isoformat(),
        "actor": "bench@example.com",
        "severity": "info",
        "details": {"version": {"from": "1.0", "to": "1.1"}, "n": i},
        "links": [{"title": "CI run", "url": f"https://ci.example.com/{i}"}],
        "external_id": f"{prefix}-{i}",
    }


def bench_bulk_writes(base: str, token: str, db_url: str, batches: int) -> dict[str, float]:
    session = requests.Session()
    session.headers.update({"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    now = datetime.now(UTC)
    run = uuid.uuid4().hex[:6]
    warm = session.post(
        f"{base}/api/v1/changes", data=json.dumps([_change_body(i, f"warm{run}", now) for i in range(1000)])
    )
    assert warm.status_code == 201, warm.text[:500]
    bodies = [json.dumps([_change_body(b * 1000 + i, f"api{run}", now) for i in range(1000)]) for b in range(batches)]
    started = time.perf_counter()
    for body in bodies:
        response = session.post(f"{base}/api/v1/changes", data=body)
        assert response.status_code == 201 and len(response.json()["results"]) == 1000, response.text[:500]
    api_seconds = time.perf_counter() - started

    with psycopg.connect(db_url) as conn:
        services = dict(conn.execute("SELECT name, id FROM changetrack_service WHERE namespace = 'bench'").fetchall())
        placeholders = ", ".join(["%s"] * len(CHANGE_COLUMNS))
        sql = f"INSERT INTO changetrack_change ({', '.join(CHANGE_COLUMNS)}) VALUES ({placeholders})"
        row_batches = []
        for b in range(batches):
            rows = []
            for i in range(1000):
                d = _change_body(b * 1000 + i, f"em{run}", now)
                hint = json.dumps(d["service"])
                rows.append(
                    (
                        "api",
                        d["external_id"],
                        d["kind"],
                        d["timestamp"],
                        None,
                        d["summary"],
                        d["actor"],
                        "info",
                        "",
                        services[d["service"]["name"]],
                        hint,
                        json.dumps(d["details"]),
                        "[]",
                        json.dumps(d["links"]),
                        "",
                        "",
                        "",
                        now,
                        now,
                    )
                )
            row_batches.append(rows)
        started = time.perf_counter()
        for rows in row_batches:
            with conn.cursor() as cur:
                cur.executemany(sql, rows)
            conn.commit()
        em_seconds = time.perf_counter() - started
    stored = batches * 1000
    return {
        "api_per_s": stored / api_seconds,
        "executemany_per_s": stored / em_seconds,
        "ratio": (stored / api_seconds) / (stored / em_seconds),
    }


def load_events(db_url: str, total: int, days: int, n_services: int) -> float:
    """Services in a chain graph (i → i+1, i → i+2), ``total`` changes over ``days`` days, 1 % as many alerts
    and 0.5 % health episodes; all with INSERT ... SELECT generate_series."""
    started = time.perf_counter()
    with psycopg.connect(db_url) as conn:
        cluster = conn.execute("SELECT id FROM changetrack_cluster WHERE name = 'bench'").fetchone()[0]
        conn.execute(
            "INSERT INTO changetrack_service (cluster_id, namespace, name, workload_kind, labels, team, owner, repository, "
            "settings, created_at, updated_at) SELECT %s, 'gen', 'gen-' || g, 'Deployment', '{}', '', '', '', '{}', now(), now() "
            "FROM generate_series(1, %s) g",
            [cluster, n_services],
        )
        lo, hi = conn.execute("SELECT min(id), max(id) FROM changetrack_service WHERE namespace = 'gen'").fetchone()
        for step in (1, 2):
            conn.execute(
                "INSERT INTO changetrack_dependency (service_id, depends_on_id, provenance, evidence, confidence, "
                "connection_type, first_seen_at, last_seen_at) SELECT id, id + %s, 'declared', 'bench', 1.0, '', now(), now() "
                "FROM changetrack_service "
                "WHERE namespace = 'gen' AND id + %s <= %s",
                [step, step, hi],
            )
        conn.commit()
        chunk = 1_000_000
        for start in range(0, total, chunk):
            n = min(chunk, total - start)
            conn.execute(
                "INSERT INTO changetrack_change (source, external_id, kind, occurred_at, ended_at, summary, actor, severity, "
                "status, service_id, service_hint, details, diff, links, commit_sha, repository, release_key, created_at, "
                "updated_at) SELECT (ARRAY['kubernetes','github','argocd','launchdarkly'])[1 + g %% 4], 'gen-' || g, "
                "(ARRAY['deploy','config','scale','feature_flag','commit','ci'])[1 + g %% 6], "
                "now() - random() * make_interval(days => %s), NULL, 'generated change ' || g, 'bench', 'info', '', "
                "%s + (random() * %s)::int, '{}', '{}', '[]', '[]', '', '', '', now(), now() "
                "FROM generate_series(%s, %s) g",
                [days, lo, hi - lo, start + 1, start + n],
            )
            conn.commit()
            print(f"  loaded {start + n:,} changes ({time.perf_counter() - started:.0f} s)", flush=True)
        conn.execute(
            "INSERT INTO changetrack_alert (source, external_id, title, severity, status, started_at, last_event_at, "
            "trigger_count, service_id, service_hint, labels, details, links, url, created_at, updated_at) "
            "SELECT 'datadog', 'gen-' || g, 'generated alert ' || g, 'error', 'resolved', t, t, 1, "
            "%s + (random() * %s)::int, '{}', '{}', '{}', '[]', '', now(), now() "
            "FROM (SELECT g, now() - random() * make_interval(days => %s) AS t FROM generate_series(1, %s) g) s",
            [lo, hi - lo, days, max(total // 100, 1)],
        )
        conn.execute(
            "INSERT INTO changetrack_healthepisode (source, service_id, reason, severity, summary, started_at, ended_at, "
            "last_seen_at, details, created_at) SELECT 'kubernetes', %s + (random() * %s)::int, 'CrashLoopBackOff', "
            "'warning', 'generated episode ' || g, t, t + interval '10 minutes', t, '{}', now() "
            "FROM (SELECT g, now() - random() * make_interval(days => %s) AS t FROM generate_series(1, %s) g) s",
            [lo, hi - lo, days, max(total // 200, 1)],
        )
        conn.commit()
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")
    return time.perf_counter() - started


def bench_timeline(base: str, token: str, db_url: str, requests_n: int) -> dict[str, Any]:
    session = requests.Session()
    session.headers.update({"Authorization": f"Bearer {token}"})
    with psycopg.connect(db_url) as conn:
        ids = [r[0] for r in conn.execute("SELECT id FROM changetrack_service WHERE namespace = 'gen' ORDER BY id")]
    until = datetime.now(UTC)
    params = {"depth": 2, "since": (until - timedelta(hours=24)).isoformat(), "until": until.isoformat()}
    for sid in random.sample(ids, 5):  # warm-up: connections, plan cache
        session.get(f"{base}/api/v1/services/{sid}/timeline", params=params)
    latencies, sizes, last = [], [], None
    for _ in range(requests_n):
        sid = random.choice(ids[5:-5])
        started = time.perf_counter()
        response = session.get(f"{base}/api/v1/services/{sid}/timeline", params=params)
        latencies.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, response.text[:300]
        last = response.json()
        sizes.append(len(last["results"]))
    latencies.sort()
    hood = [s["id"] for s in last["services"]]
    sql, sql_params = _timeline_sql(hood, until - timedelta(hours=24), until)
    with psycopg.connect(db_url) as conn:
        plan = conn.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql, sql_params).fetchall()
    return {
        "p50_ms": statistics.median(latencies),
        "p95_ms": latencies[int(len(latencies) * 0.95) - 1],
        "entries": statistics.median(sizes),
        "services_in_hood": len(hood),
        "plan": "\n".join(r[0] for r in plan),
    }


#: label → (query, read the second page instead of the first)
LIST_READS: dict[str, tuple[dict[str, str], bool]] = {
    "GET /api/v1/changes (no filter)": ({}, False),
    "GET /api/v1/changes?kind=deploy": ({"kind": "deploy"}, False),
    "GET /api/v1/changes, second page": ({}, True),
}


def bench_lists(base: str, token: str, reads: int) -> dict[str, tuple[float, float]]:
    """The newest changes across every service: p50/p95 ms per list read (no target named; an on-call's first
    call, so it must not sort the whole table)."""
    session = requests.Session()
    session.headers.update({"Authorization": f"Bearer {token}"})
    out: dict[str, tuple[float, float]] = {}
    for label, (query, second_page) in LIST_READS.items():
        url = f"{base}/api/v1/changes"
        if second_page:
            url, query = session.get(url, params=query).json()["next"], {}
        latencies = []
        for i in range(reads + 3):
            started = time.perf_counter()
            response = session.get(url, params=query)
            if i >= 3:  # warm-up
                latencies.append((time.perf_counter() - started) * 1000)
            assert response.status_code == 200 and len(response.json()["results"]) > 0, response.text[:300]
        latencies.sort()
        out[label] = (statistics.median(latencies), latencies[int(len(latencies) * 0.95) - 1])
    return out


def _report_lists(lists: dict[str, tuple[float, float]], events: str) -> None:
    for label, (p50, p95) in lists.items():
        print(f"{label:<36} on {events} changes: p50 {p50:.1f} ms, p95 {p95:.1f} ms (no target named)")


def _timeline_sql(hood: list[int], since: datetime, until: datetime) -> tuple[str, list[Any]]:
    """The exact SQL the timeline view runs (its builder needs Django's app registry, not a connection)."""
    import django
    from django.conf import settings

    if not settings.configured:
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "changetrack.settings")
        django.setup()
    from changetrack.timeline import Filters, build_query

    built = build_query(hood, Filters(since, until), limit=101)
    assert built is not None
    return built


def _report_timeline(t: dict[str, Any], events: str, reads: int) -> None:
    print(f"load average: {os.getloadavg()[0]:.1f}")
    print(
        f"timeline depth=2, 24 h window, {events} changes, {reads} reads over HTTP: p50 {t['p50_ms']:.1f} ms, "
        f"p95 {t['p95_ms']:.1f} ms (target p95 <= 50 ms); {t['services_in_hood']} services in the last "
        f"neighbourhood, median {t['entries']:.0f} entries per page"
    )
    print("EXPLAIN ANALYZE of the timeline query (one UNION ALL branch per table):")
    print(t["plan"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench.api", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes (300k events, 3 batches, 50 reads)")
    parser.add_argument("--events", type=int, default=None, help="changes in the timeline table (default 10,000,000)")
    parser.add_argument("--keep", action="store_true", help="keep the bench database afterwards (for --timeline-only)")
    parser.add_argument("--timeline-only", action="store_true", help="re-run only the reads on a kept database")
    parser.add_argument("--writes-only", action="store_true", help="only the bulk writes (no 10M-row load)")
    args = parser.parse_args(argv)
    events = args.events or (300_000 if args.quick else 10_000_000)
    batches, reads = (3, 50) if args.quick else (10, 300)
    admin_url, redis_url = _server_urls()
    db_url = _with_db(admin_url, BENCH_DB)
    env = {
        **os.environ,
        "DATABASE_URL": db_url,
        "REDIS_URL": _with_redis_db(redis_url, 3),
        "DEBUG": "false",
        "SECRET_KEY": "bench-only-" + uuid.uuid4().hex,
        "SECURE_SSL_REDIRECT": "false",
        "SECURE_COOKIES": "false",
        "LOG_LEVEL": "WARNING",
    }
    if not args.timeline_only:
        _recreate_database(admin_url)
        _manage(env, "migrate", "--noinput")
        with psycopg.connect(db_url) as conn:
            _create_partitions(conn, days=31)
            conn.execute("INSERT INTO changetrack_cluster (name, env, created_at) VALUES ('bench', '', now())")
            conn.commit()
    token = (
        _manage(env, "create_api_token", "bench", "--scopes", "read,write", "--rate-limit", "1000000")
        .strip()
        .splitlines()[-1]
    )
    proc, base = _start_gunicorn(env)
    print(f"load average at start: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs (shared machine)", flush=True)
    try:
        if args.timeline_only:
            with psycopg.connect(db_url) as conn:
                stored = conn.execute("SELECT count(*) FROM changetrack_change").fetchone()[0]
            _report_timeline(bench_timeline(base, token, db_url, reads), f"{stored:,}", reads)
            _report_lists(bench_lists(base, token, reads // 6), f"{stored:,}")
            return 0
        w = bench_bulk_writes(base, token, db_url, batches)
        print(
            f"bulk POST /api/v1/changes (arrays of 1,000, gunicorn 1 worker over HTTP): {w['api_per_s']:,.0f} changes/s",
            flush=True,
        )
        print(
            f"baseline executemany of the same rows, same table:                   {w['executemany_per_s']:,.0f} rows/s"
        )
        print(f"ratio API / executemany: {w['ratio']:.2f}x (target >= 0.3x)")
        print(f"load average: {os.getloadavg()[0]:.1f}", flush=True)
        if args.writes_only:
            return 0
        print(f"loading {events:,} changes over 30 days for the timeline benchmark...", flush=True)
        seconds = load_events(db_url, events, days=30, n_services=2000)
        print(f"  loaded in {seconds:.0f} s")
        _report_timeline(bench_timeline(base, token, db_url, reads), f"{events:,}", reads)
        _report_lists(bench_lists(base, token, reads // 6), f"{events:,}")
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        if not args.keep:
            with psycopg.connect(admin_url, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{BENCH_DB}" WITH (FORCE)')
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
