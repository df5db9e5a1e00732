"""The service explorer's figures, computed per page of services rather than per row.

Correlated subqueries per service ("last change", "changes in 24 h") each probe every daily partition of the
change table; with 300 services and 30+ partitions that is tens of thousands of index probes. Instead: one
grouped query over the last day's partitions for the counts and most last changes, and a LATERAL probe only
for the services that had no change in that day.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import connection
from django.db.models import Count, Q
from django.urls import reverse
from django.utils import timezone

from changetrack.models import Alert, HealthEpisode, Service

LIMIT = 500
#: "not resolved", spelled so the (status, -started_at) index can be used
OPEN = (Alert.Status.TRIGGERED, Alert.Status.ACKNOWLEDGED)


@dataclass
class LastChange:
    id: int
    at: datetime
    summary: str


def _filtered(params: dict[str, str]) -> Any:
    qs = Service.objects.select_related("cluster").defer("labels", "settings")
    if params.get("cluster"):
        qs = qs.filter(cluster__name=params["cluster"])
    if params.get("namespace"):
        qs = qs.filter(namespace=params["namespace"])
    if params.get("team"):
        qs = qs.filter(team=params["team"])
    if params.get("q"):
        term = params["q"].strip()[:200]
        qs = qs.filter(
            Q(name__icontains=term)
            | Q(namespace__icontains=term)
            | Q(team__icontains=term)
            | Q(repository__icontains=term)
            | Q(aliases__value__icontains=term)
        ).distinct()
    if params.get("health") == "unhealthy":
        open_alerts = Alert.objects.filter(status__in=OPEN, service__isnull=False).values("service_id")
        open_episodes = HealthEpisode.objects.filter(ended_at__isnull=True).values("service_id")
        qs = qs.filter(Q(pk__in=open_alerts) | Q(pk__in=open_episodes))
    return qs.order_by("cluster__name", "namespace", "name")


def _grouped(qs: Any) -> dict[int, int]:
    return {row["service_id"]: row["n"] for row in qs.values("service_id").annotate(n=Count("id")).order_by()}


def last_changes(ids: list[int], since: datetime) -> tuple[dict[int, LastChange], dict[int, int]]:
    """(service id → its newest change, service id → changes since ``since``)."""
    last: dict[int, LastChange] = {}
    counts: dict[int, int] = {}
    with connection.cursor() as cur:
        # the window count is computed before DISTINCT ON keeps each service's newest row: one row per service
        cur.execute(
            "SELECT DISTINCT ON (service_id) service_id, id, occurred_at, summary, count(*) OVER (PARTITION BY service_id) "
            "FROM changetrack_change WHERE service_id = ANY(%s) AND occurred_at >= %s "
            "ORDER BY service_id, occurred_at DESC, id DESC",
            [ids, since],
        )
        for service_id, change_id, at, summary, n in cur.fetchall():
            counts[service_id] = n
            last[service_id] = LastChange(change_id, at, summary)
        missing = [i for i in ids if i not in last]
        if missing:
            cur.execute(
                "SELECT s.id, c.id, c.occurred_at, c.summary FROM unnest(%s::bigint[]) AS s(id) CROSS JOIN LATERAL ("
                "  SELECT id, occurred_at, summary FROM changetrack_change WHERE service_id = s.id"
                "  ORDER BY occurred_at DESC LIMIT 1) c",
                [missing],
            )
            for service_id, change_id, at, summary in cur.fetchall():
                last[service_id] = LastChange(change_id, at, summary)
    return last, counts


def rows(params: dict[str, str]) -> list[Service]:
    """Services matching ``params`` (at most ``LIMIT``), each with ``open_alerts``, ``active_episodes``,
    ``changes_24h`` and ``last_change`` (a ``LastChange`` or None) set as attributes."""
    services = list(_filtered(params)[:LIMIT])
    ids = [s.pk for s in services]
    if not ids:
        return []
    alerts = _grouped(Alert.objects.filter(service_id__in=ids, status__in=OPEN))
    episodes = _grouped(HealthEpisode.objects.filter(service_id__in=ids, ended_at__isnull=True))
    last, counts = last_changes(ids, timezone.now() - timedelta(hours=24))
    service_url = reverse("web:service", args=[987654321]).replace("987654321", "{}")
    change_url = reverse("web:change", args=[987654321]).replace("987654321", "{}")
    for s in services:
        s.url = service_url.format(s.pk)  # type: ignore[attr-defined]
        s.last_change_url = change_url.format(last[s.pk].id) if s.pk in last else ""  # type: ignore[attr-defined]
        s.open_alerts = alerts.get(s.pk, 0)  # type: ignore[attr-defined]
        s.active_episodes = episodes.get(s.pk, 0)  # type: ignore[attr-defined]
        s.changes_24h = counts.get(s.pk, 0)  # type: ignore[attr-defined]
        s.last_change = last.get(s.pk)  # type: ignore[attr-defined]
    return services
