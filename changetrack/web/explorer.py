"""The service explorer's figures, computed per page of services rather than per row.

Correlated subqueries per service ("last change", "changes in 24 h") each probe every daily partition of the
change table; with 300 services and 30+ partitions that is tens of thousands of index probes. Instead, for one
page of services: a grouped count over the last day's partitions (an index-only scan of (service, occurred_at)),
one LATERAL "newest row" probe per service into those same partitions, and an unbounded LATERAL probe only for
the services that had no change in that day.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

from django.core.paginator import Page, Paginator
from django.db import connection
from django.db.models import Count, Model, Q, QuerySet
from django.utils import timezone

from changetrack.models import Alert, Cluster, HealthEpisode, Service
from changetrack.resolution import path_query
from changetrack.web.links import url_pattern

M = TypeVar("M", bound=Model)
PAGE_SIZE = 100  # rows per page: rendering a row costs more than finding it, and a page is what a human scans
#: "not resolved", spelled so the (status, -started_at) index can be used
OPEN = (Alert.Status.TRIGGERED, Alert.Status.ACKNOWLEDGED)


def narrowed(qs: QuerySet[M], params: Mapping[str, str], lookups: Mapping[str, str]) -> QuerySet[M]:
    """``qs`` filtered by each parameter that is set, through its lookup (``{"cluster": "cluster__name"}``): the
    exact-match choices of the lists' filter forms."""
    for key, lookup in lookups.items():
        if params.get(key):
            qs = qs.filter(**{lookup: params[key]})
    return qs


def filter_choices() -> dict[str, Any]:
    """The cluster, namespace and team choices of the service filters (the explorer's, the map's)."""
    return {
        "clusters": Cluster.objects.values_list("name", flat=True).order_by("name"),
        "namespaces": Service.objects.exclude(namespace="")
        .values_list("namespace", flat=True)
        .distinct()
        .order_by("namespace"),
        "teams": Service.objects.exclude(team="").values_list("team", flat=True).distinct().order_by("team"),
    }


@dataclass
class LastChange:
    id: int
    at: datetime
    summary: str


def _filtered(params: dict[str, str]) -> Any:
    qs = Service.objects.select_related("cluster").defer("labels", "settings")
    qs = narrowed(qs, params, {"cluster": "cluster__name", "namespace": "namespace", "team": "team"})
    if params.get("q"):
        term = params["q"].strip()[:200]
        qs = qs.filter(
            Q(name__icontains=term)
            | Q(namespace__icontains=term)
            | Q(team__icontains=term)
            | Q(repository__icontains=term)
            | Q(aliases__value__icontains=term)
            | path_query(term)
        ).distinct()
    if params.get("health") == "unhealthy":
        open_alerts = Alert.objects.filter(status__in=OPEN, service__isnull=False).values("service_id")
        open_episodes = HealthEpisode.objects.filter(ended_at__isnull=True).values("service_id")
        qs = qs.filter(Q(pk__in=open_alerts) | Q(pk__in=open_episodes))
    return qs.order_by("cluster__name", "namespace", "name")


def _grouped(qs: Any) -> dict[int, int]:
    return {row["service_id"]: row["n"] for row in qs.values("service_id").annotate(n=Count("id")).order_by()}


#: each service's newest change at or after %(since)s (all of them when since is NULL): one index probe per
#: service and partition, stopping at the first row, instead of sorting every row of the day
_NEWEST_SQL = """
SELECT s.id, c.id, c.occurred_at, c.summary FROM unnest(%(ids)s::bigint[]) AS s(id) CROSS JOIN LATERAL (
  SELECT id, occurred_at, summary FROM changetrack_change
  WHERE service_id = s.id {bound} ORDER BY occurred_at DESC, id DESC LIMIT 1) c
"""


def last_changes(ids: list[int], since: datetime) -> tuple[dict[int, LastChange], dict[int, int]]:
    """(service id → its newest change, service id → changes since ``since``)."""
    last: dict[int, LastChange] = {}
    with connection.cursor() as cur:
        # a literal ``since`` lets the planner prune to the last day's partitions (an index-only count)
        cur.execute(
            "SELECT service_id, count(*) FROM changetrack_change WHERE service_id = ANY(%s) AND occurred_at >= %s "
            "GROUP BY service_id",
            [ids, since],
        )
        counts = dict(cur.fetchall())
        recent = [i for i in ids if counts.get(i)]
        if recent:
            cur.execute(_NEWEST_SQL.format(bound="AND occurred_at >= %(since)s"), {"ids": recent, "since": since})
            last.update((sid, LastChange(cid, at, summary)) for sid, cid, at, summary in cur.fetchall())
        quiet = [i for i in ids if i not in last]
        if quiet:  # no change in the day: probe every partition, for these services only
            cur.execute(_NEWEST_SQL.format(bound=""), {"ids": quiet})
            last.update((sid, LastChange(cid, at, summary)) for sid, cid, at, summary in cur.fetchall())
    return last, counts


def page(params: dict[str, str], number: str | None) -> Page:
    """One page of the services matching ``params``, each with ``open_alerts``, ``active_episodes``,
    ``changes_24h``, ``last_change`` (a ``LastChange`` or None), ``url`` and ``last_change_url`` set.
    A page number out of range gives the last page, a non-number the first (a hand-edited URL still works)."""
    result = Paginator(_filtered(params), PAGE_SIZE).get_page(number)
    result.object_list = annotate(list(result.object_list))
    return result


def annotate(services: list[Service]) -> list[Service]:
    """Set the explorer's figures on ``services`` (a few grouped queries for the whole list)."""
    ids = [s.pk for s in services]
    if not ids:
        return []
    alerts = _grouped(Alert.objects.filter(service_id__in=ids, status__in=OPEN))
    episodes = _grouped(HealthEpisode.objects.filter(service_id__in=ids, ended_at__isnull=True))
    last, counts = last_changes(ids, timezone.now() - timedelta(hours=24))
    service_url, change_url = url_pattern("web:service"), url_pattern("web:change")
    for s in services:
        s.url = service_url.format(s.pk)  # type: ignore[attr-defined]
        s.last_change_url = change_url.format(last[s.pk].id) if s.pk in last else ""  # type: ignore[attr-defined]
        s.open_alerts = alerts.get(s.pk, 0)  # type: ignore[attr-defined]
        s.active_episodes = episodes.get(s.pk, 0)  # type: ignore[attr-defined]
        s.changes_24h = counts.get(s.pk, 0)  # type: ignore[attr-defined]
        s.last_change = last.get(s.pk)  # type: ignore[attr-defined]
    return services
