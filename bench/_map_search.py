"""The service map's and the search's figures for ``bench.web`` (a helper: ``bench.web`` fills the database and
calls these after its own pages).

Map: the graph is grown to 2,000 services and 10,000 edges in SQL (services beyond the page benchmark's few
hundred get a cluster, a namespace, a team and a couple of recent changes each), then
- server time of ``/map/graph.json`` (whole map, one cluster, centred on an alert) through Django's test client,
  round-robin with the blank page behind login as the baseline;
- time to first render in Chromium (Debian's ``/usr/bin/chromium`` through Playwright, the app's CSP enforced):
  ``performance.now()`` when cytoscape first paints the map, against the blank page's load event as the
  baseline; and, once, the layered (dagre) layout forced on all 2,000 services, to show why the map lays out
  large graphs as a grid.
Search: ``/search/?q=`` for a SHA prefix, an image tag, an actor and a flag key over every change, and as the
baseline the same search as a plain substring scan (``LIKE '%q%'`` over the same fields) in SQL.
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable
from typing import Any

CHROMIUM = "/usr/bin/chromium"
MAP_SERVICES, MAP_EDGES = 2000, 10000
SEARCH_TARGET_P95_MS = 150.0
DAGRE_TIMEOUT_S = 120
SUBSTRING_SQL = """
SELECT id FROM changetrack_change
WHERE lower(commit_sha || ' ' || actor || ' ' || details::text || ' ' || diff::text) LIKE %s
ORDER BY occurred_at DESC, id DESC LIMIT 101
"""

Measure = Callable[[list[tuple[str, Callable[[], Any]]], int], dict[str, tuple[float, float]]]


def grow_graph(n_services: int = MAP_SERVICES, n_edges: int = MAP_EDGES) -> list[int]:
    """Add services up to ``n_services`` and kubernetes edges up to ``n_edges`` (in SQL); returns every service id."""
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute("SELECT count(*), max(id) FROM changetrack_service")
        have, _ = cur.fetchone()
        cur.execute("SELECT id FROM changetrack_cluster ORDER BY id")
        clusters = [r[0] for r in cur.fetchall()]
        cur.execute(
            """
            INSERT INTO changetrack_service (cluster_id, namespace, name, workload_kind, labels, team, owner, repository,
                settings, created_at, updated_at)
            SELECT (%s::bigint[])[1 + i %% %s], 'ns' || (i %% 7), 'map-' || lpad(i::text, 4, '0'), 'Deployment', '{}',
                   'team-' || (i %% 12), '', '', '{}', now(), now()
            FROM generate_series(%s, %s - 1) i
            """,
            [clusters, len(clusters), have, n_services],
        )
        cur.execute("SELECT array_agg(id ORDER BY id) FROM changetrack_service")
        ids = cur.fetchone()[0]
        cur.execute("SELECT count(*) FROM changetrack_dependency")
        missing = n_edges - cur.fetchone()[0]
        step = 2
        while missing > 0:  # each service calls a few others, a different stride per pass
            cur.execute(
                """
                INSERT INTO changetrack_dependency (service_id, depends_on_id, provenance, evidence, confidence,
                    connection_type, first_seen_at, last_seen_at)
                SELECT s.ids[i], s.ids[1 + ((i * %s + 11) %% %s)], 'kubernetes', 'bench', 0.8, '', now(), now()
                FROM (SELECT %s::bigint[] AS ids) s, generate_series(1, %s) i
                WHERE s.ids[i] <> s.ids[1 + ((i * %s + 11) %% %s)]
                LIMIT %s
                ON CONFLICT DO NOTHING
                """,
                [step, len(ids), ids, len(ids), step, len(ids), missing],
            )
            missing -= cur.rowcount
            step += 1
        cur.execute(  # the new services' recent changes, so their nodes have rings too
            """
            INSERT INTO changetrack_change (source, external_id, kind, occurred_at, summary, actor, severity, status,
                service_id, service_hint, details, diff, links, commit_sha, repository, release_key, created_at, updated_at)
            SELECT 'kubernetes', 'map-' || s.id || '-' || k, CASE k WHEN 1 THEN 'deploy' ELSE 'config' END,
                   now() - make_interval(mins => ((s.id * 7 + k * 131) %% 1400)::int), 'map bench change', 'bench', 'info', '',
                   s.id, '{}', '{}', '[]', '[]', '', '', '', now(), now()
            FROM changetrack_service s, generate_series(1, 2) k WHERE s.name LIKE 'map-%%'
            """,
            [],
        )
        cur.execute("ANALYZE changetrack_service, changetrack_dependency")
    return ids


def measure_map_server(get: Callable[[str], Callable[[], Any]], alert_id: int, measure: Measure, rounds: int) -> None:
    from changetrack.models import Cluster

    cluster = Cluster.objects.order_by("id").values_list("name", flat=True).first()
    cases = [
        ("baseline: blank page behind login", get("/bench-blank/")),
        ("map page (the shell)", get("/map/")),
        ("map graph.json, 2,000 services, 24 h", get("/map/graph.json")),
        (f"map graph.json, cluster {cluster}", get(f"/map/graph.json?cluster={cluster}")),
        ("map graph.json, centred on an alert", get(f"/map/graph.json?alert={alert_id}")),
        ("map graph.json, 2,000 services, 7 d", get("/map/graph.json?hours=168")),
    ]
    size = len(get("/map/graph.json")().content)
    timings = measure(cases, rounds)
    print(f"\nservice map, {MAP_SERVICES:,} services / {MAP_EDGES:,} edges (graph.json {size / 1024:.0f} KiB)")
    _table(timings)


def _table(timings: dict[str, tuple[float, float]]) -> None:
    base = next(iter(timings.values()))[0]
    print(f"{'case':<48} {'p50 ms':>8} {'p95 ms':>8} {'p50 / baseline':>15}")
    for name, (p50, p95) in timings.items():
        print(f"{name:<48} {p50:8.1f} {p95:8.1f} {p50 / base:14.1f}x")


def chromium_first_render(session_cookie: tuple[str, str], runs: int, dagre_timeout_s: int = DAGRE_TIMEOUT_S) -> None:
    """Time to first render of the map in Chromium against the blank page's load, through a live server."""
    if not os.path.exists(CHROMIUM):
        print(f"(Chromium figures skipped: {CHROMIUM} is missing; `make e2e-deps` installs it)")
        return
    os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")  # Playwright's loop shares this thread with the ORM
    from django.conf import settings
    from django.contrib.staticfiles.handlers import StaticFilesHandler
    from django.test.testcases import LiveServerThread
    from playwright.sync_api import sync_playwright

    settings.SECURE_SSL_REDIRECT = False  # plain HTTP on localhost
    server = LiveServerThread("localhost", StaticFilesHandler)
    server.daemon = True
    server.start()
    server.is_ready.wait()
    if server.error:
        raise server.error
    base = f"http://localhost:{server.port}"
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(
                executable_path=CHROMIUM, headless=True, args=["--no-sandbox", "--disable-gpu"]
            )
            context = browser.new_context(viewport={"width": 1366, "height": 900})
            context.add_cookies([{"name": session_cookie[0], "value": session_cookie[1], "url": base}])
            page = context.new_page()
            violations: list[str] = []
            page.on("console", lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None)
            page.on("pageerror", lambda exc: violations.append(str(exc)))
            blank, grid, every_edge, cluster = [], [], [], []

            def render(path: str) -> float:
                page.goto(base + path)
                page.wait_for_selector("#service-map[data-rendered]", timeout=60000)
                return float(page.get_attribute("#service-map", "data-render-ms") or "nan")

            for _ in range(runs):
                page.goto(base + "/bench-blank/", wait_until="load")
                blank.append(page.evaluate("performance.getEntriesByType('navigation')[0].loadEventEnd"))
                grid.append(render("/map/"))
                every_edge.append(render("/map/?edges=all"))
                cluster.append(render("/map/?cluster=bench-0&namespace=ns1"))
            cluster_nodes = page.get_attribute("#service-map", "data-rendered")
            cluster_layout = page.get_attribute("#service-map", "data-layout")
            render("/map/")
            layout = page.get_attribute("#service-map", "data-layout")
            nodes = page.get_attribute("#service-map", "data-rendered")
            started = time.perf_counter()
            page.goto(base + "/map/?layout=dagre")
            try:
                page.wait_for_selector("#service-map[data-rendered]", timeout=dagre_timeout_s * 1000)
                dagre = f"{float(page.get_attribute('#service-map', 'data-render-ms') or 'nan'):,.0f} ms"
            except Exception:  # noqa: BLE001 - a timeout is the figure
                dagre = f"over {dagre_timeout_s} s (gave up after {time.perf_counter() - started:.0f} s)"
            browser.close()
    finally:
        server.terminate()
    print(f"\nChromium, time to first render ({runs} loads each; Playwright, headless, the app's CSP enforced)")
    print(f"{'case':<48} {'p50 ms':>8} {'max ms':>8}")
    print(f"{'baseline: blank page behind login (load event)':<48} {statistics.median(blank):8.0f} {max(blank):8.0f}")
    print(
        f"{f'map, {nodes} services, {layout}, edges on pointing':<48} {statistics.median(grid):8.0f} {max(grid):8.0f}"
    )
    every = f"map, {nodes} services, {layout}, all {MAP_EDGES:,} edges"
    print(f"{every:<48} {statistics.median(every_edge):8.0f} {max(every_edge):8.0f}")
    one = f"map, one namespace ({cluster_nodes} services, {cluster_layout})"
    print(f"{one:<48} {statistics.median(cluster):8.0f} {max(cluster):8.0f}")
    print(f"map with the layered (dagre) layout forced on every service: {dagre}")
    print(f"CSP violations or script errors: {violations or 'none'}")


def search_queries() -> dict[str, str]:
    """Queries that exist in the generated data (see ``bench.web.generate``)."""
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute("SELECT commit_sha FROM changetrack_change WHERE commit_sha <> '' ORDER BY id LIMIT 1 OFFSET 777")
        sha = cur.fetchone()[0]
        cur.execute(
            "SELECT details->>'new_image' FROM changetrack_change WHERE details ? 'new_image' LIMIT 1 OFFSET 555"
        )
        image = cur.fetchone()[0].rsplit("/", 1)[-1]
        cur.execute("SELECT details->>'flag' FROM changetrack_change WHERE details ? 'flag' LIMIT 1 OFFSET 333")
        flag = cur.fetchone()[0]
    return {
        "SHA prefix (7)": sha[:7],
        "image:tag": image,
        "actor (1 in 40 changes)": "dev7",
        "flag key": flag,
    }


def measure_search(get: Callable[[str], Callable[[], Any]], n_changes: int, measure: Measure, rounds: int) -> None:
    from urllib.parse import quote

    from django.db import connection

    queries = search_queries()

    def substring(q: str) -> Callable[[], Any]:
        def call() -> Any:
            with connection.cursor() as cur:
                cur.execute(SUBSTRING_SQL, [f"%{q.lower()}%"])
                return cur.fetchall()

        return call

    indexed = [("baseline: blank page behind login", get("/bench-blank/"))]
    indexed += [(f"/search/ {label}: {q}", get(f"/search/?q={quote(q)}")) for label, q in queries.items()]
    timings = measure(indexed, rounds)
    scans = measure([(f"substring scan (SQL only) {label}", substring(q)) for label, q in queries.items()], 3)
    print(f"\nsearch over {n_changes:,} changes (page p95 target <= {SEARCH_TARGET_P95_MS:.0f} ms)")
    _table({**timings, **scans})
    worst = max(p95 for name, (_, p95) in timings.items() if name.startswith("/search/"))
    verdict = "OK" if worst <= SEARCH_TARGET_P95_MS else "OVER TARGET"
    print(f"target: search page p95 <= {SEARCH_TARGET_P95_MS:.0f} ms -> worst {worst:.1f} ms: {verdict}")
