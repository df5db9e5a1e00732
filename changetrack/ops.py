"""Operational endpoints: liveness, readiness (database and broker), Prometheus metrics."""

from __future__ import annotations

import hmac

from django.conf import settings
from django.core.exceptions import DisallowedHost
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.http import HttpRequest, HttpResponse, JsonResponse
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Gauge, generate_latest

from changetrack.infra import redis as shared_redis
from changetrack.infra.problems import problem_response


def healthz(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


_migrated = False  # once every migration is applied it stays so for this process: readyz stops asking


def _migrations() -> str:
    """``ok``, or how many migrations are not applied yet (the migrate Job has not run for this version)."""
    global _migrated
    if _migrated:
        return "ok"
    executor = MigrationExecutor(connection)
    missing = executor.migration_plan(executor.loader.graph.leaf_nodes())
    if missing:
        return f"error: {len(missing)} migration(s) not applied; run manage.py migrate"
    _migrated = True
    return "ok"


def readyz(request: HttpRequest) -> JsonResponse:
    checks: dict[str, str] = {}
    try:
        with connection.cursor() as cur:
            cur.execute("SELECT 1")
        checks["database"] = "ok"
        checks["migrations"] = _migrations()
    except Exception as exc:  # noqa: BLE001 - any failure means not ready
        checks["database"] = f"error: {type(exc).__name__}"
    try:
        shared_redis.client().ping()
        checks["broker"] = "ok"
    except Exception as exc:  # noqa: BLE001
        checks["broker"] = f"error: {type(exc).__name__}"
    ok = all(v == "ok" for v in checks.values())
    return JsonResponse({"status": "ok" if ok else "unavailable", "checks": checks}, status=200 if ok else 503)


def _may_scrape(request: HttpRequest) -> bool:
    """``METRICS_PUBLIC`` or the ``METRICS_TOKEN`` bearer (compared in constant time)."""
    if settings.METRICS_PUBLIC:
        return True
    scheme, _, sent = request.headers.get("Authorization", "").partition(" ")
    expected = settings.METRICS_TOKEN
    return (
        bool(expected) and scheme.lower() == "bearer" and hmac.compare_digest(sent.strip().encode(), expected.encode())
    )


def metrics(request: HttpRequest) -> HttpResponse:
    if not _may_scrape(request):
        return problem_response(
            401, "/metrics needs 'Authorization: Bearer <METRICS_TOKEN>'", headers={"WWW-Authenticate": "Bearer"}
        )
    registry = CollectorRegistry()
    deliveries = Gauge(
        "changetrack_deliveries", "Deliveries by status (last day partitions)", ["status"], registry=registry
    )
    with connection.cursor() as cur:
        cur.execute(
            "SELECT status, count(*) FROM changetrack_delivery WHERE received_at > now() - interval '1 day' GROUP BY status"
        )
        for status, count in cur.fetchall():
            deliveries.labels(status=status).set(count)
        cur.execute("SELECT count(*) FROM changetrack_alert WHERE status <> 'resolved'")
        Gauge("changetrack_open_alerts", "Open alerts", registry=registry).set(cur.fetchone()[0])
    return HttpResponse(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)


def bad_request(request: HttpRequest, exception: Exception) -> JsonResponse:
    """Django's 400 (a Host header not in ``ALLOWED_HOSTS``, a suspicious operation, a bad multipart body) in the
    one problem+json shape, for the API's clients and the pages alike, instead of Django's HTML page."""
    if isinstance(exception, DisallowedHost):
        return problem_response(400, "the Host header names a host this server does not answer for")
    return problem_response(400, "the request could not be read")
