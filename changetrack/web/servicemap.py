"""The service map: services grouped by cluster and namespace, dependency edges with where they came from, each
service's open alerts, open health episodes and recent changes; "centre on this alert" marks the paths from the
alerting service to its suspects.

The page is a shell; its script (``static/changetrack/map.js``) reads ``graph.json`` and draws it with
cytoscape.js (vendored). ``graph.json`` costs a fixed handful of queries whatever the number of services: the
services, their edges, and one grouped count each for open alerts, open health episodes and changes in the window
(plus, for an alert, its suspects and the cached dependency graph's walk).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from django.db import connection
from django.db.models import Count, QuerySet
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse, QueryDict
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone

from changetrack.correlation import graph as dependency_graph
from changetrack.infra.problems import problem_response
from changetrack.models import Alert, HealthEpisode, Service, Suspect
from changetrack.web import access, explorer
from changetrack.web.links import url_pattern

#: the time windows offered for "recent changes", in hours
WINDOWS = {1: "1 h", 6: "6 h", 24: "24 h", 168: "7 d"}
DEFAULT_HOURS = 24
MAX_SUSPECTS = 10
MAX_TEXT = 253  # the longest namespace Kubernetes allows; longer filter values cannot match anything
FILTERS = {"cluster": "cluster__name", "namespace": "namespace", "team": "team"}


class BadParams(ValueError):
    """A query parameter the map cannot use (the message names it)."""


@dataclass(frozen=True)
class MapQuery:
    """What the map shows: the filters, the window for recent changes, the alert to centre on (and whether to
    keep the whole map around it rather than only its suspects' neighbourhood)."""

    cluster: str = ""
    namespace: str = ""
    team: str = ""
    hours: int = DEFAULT_HOURS
    alert: int | None = None
    whole: bool = False

    def params(self) -> dict[str, str]:
        return {"cluster": self.cluster, "namespace": self.namespace, "team": self.team}

    def encoded(self) -> str:
        values: dict[str, Any] = {**self.params(), "hours": self.hours, "alert": self.alert or "", "whole": "1"}
        if not self.whole:
            values.pop("whole")
        return urlencode({k: v for k, v in values.items() if v not in ("", None)})


def parse(query: QueryDict) -> MapQuery:
    """The map's parameters from a query string; raises :class:`BadParams` naming the first bad one."""
    texts = {}
    for name in FILTERS:
        value = query.get(name, "").strip()
        if len(value) > MAX_TEXT:
            raise BadParams(f"{name} must be at most {MAX_TEXT} characters")
        texts[name] = value
    raw_hours = query.get("hours", "") or str(DEFAULT_HOURS)
    if not raw_hours.isdigit() or int(raw_hours) not in WINDOWS:
        raise BadParams(f"hours must be one of {', '.join(str(h) for h in WINDOWS)}")
    raw_alert = query.get("alert", "")
    if raw_alert and (not raw_alert.isdigit() or int(raw_alert) >= 2**63):
        raise BadParams("alert must be an alert's id")
    return MapQuery(
        **texts, hours=int(raw_hours), alert=int(raw_alert) if raw_alert else None, whole=bool(query.get("whole"))
    )


def _focus(alert_id: int) -> dict[str, Any] | None:
    """The alert to centre on with its suspects and, for each, the path of service ids from the alerting service
    (the dependency walk the ranking used). None when the alert does not exist."""
    alert = Alert.objects.filter(pk=alert_id).values("id", "title", "status", "service_id").first()
    if alert is None:
        return None
    rows = (
        Suspect.objects.filter(alert_id=alert["id"])
        .order_by("rank")
        .values("rank", "score", "hops", "change_id", "change__service_id", "change__kind", "change__summary")
    )[:MAX_SUSPECTS]
    start = alert["service_id"]
    walk = dependency_graph.neighbourhood(start) if start else {}
    suspects: list[dict[str, Any]] = []
    for row in rows:
        sid = row["change__service_id"]
        path = walk[sid][1] if sid in walk else ([sid] if sid else [])
        suspects.append(
            {
                "rank": row["rank"],
                "score": round(row["score"], 2),
                "change": row["change_id"],
                "kind": row["change__kind"],
                "summary": row["change__summary"],
                "service": sid,
                "path": path,
            }
        )
    neighbours = {other for other, (hops, _path) in walk.items() if hops <= 1}
    on_paths = {sid for s in suspects for sid in s["path"]}
    return {
        "id": alert["id"],
        "title": alert["title"],
        "status": alert["status"],
        "service": start,
        "url": reverse("web:alert", args=[alert["id"]]),
        "suspects": suspects,
        "focus": sorted(neighbours | on_paths | ({start} if start else set())),
    }


def _services(q: MapQuery, only: list[int] | None) -> QuerySet[Service]:
    qs = explorer.narrowed(Service.objects.all(), q.params(), FILTERS)
    return qs if only is None else qs.filter(pk__in=only)


def _counts(rows: Any) -> dict[int, int]:
    return {r["service_id"]: r["n"] for r in rows}


#: one edge per pair of services, with every provenance that showed it (raw SQL: at 10,000 edges, the ORM's
#: per-value converters cost more than the query)
EDGES_SQL = """
SELECT service_id, depends_on_id, array_agg(provenance ORDER BY provenance), round(max(confidence)::numeric, 2)::float8,
       left(max(evidence), 120), sum(calls)::bigint, sum(errors)::bigint, max(connection_type)
FROM changetrack_dependency
WHERE %(all)s OR (service_id = ANY(%(ids)s) AND depends_on_id = ANY(%(ids)s))
GROUP BY service_id, depends_on_id
"""
#: per service, its changes in the window by kind: {"deploy": [count, latest (ISO 8601, UTC)]}
RECENT_SQL = """
SELECT service_id, json_object_agg(kind, json_build_array(n, to_char(last AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')))
FROM (
    SELECT service_id, kind, count(*) AS n, max(occurred_at) AS last FROM changetrack_change
    WHERE occurred_at >= %(since)s AND service_id IS NOT NULL AND (%(all)s OR service_id = ANY(%(ids)s))
    GROUP BY service_id, kind
) AS by_kind
GROUP BY service_id
"""


def _edges(ids: list[int] | None) -> list[dict[str, Any]]:
    """The edges between ``ids`` (every edge for None)."""
    with connection.cursor() as cur:
        cur.execute(EDGES_SQL, {"all": ids is None, "ids": ids or []})
        rows = cur.fetchall()
    return [
        {
            "from": src,
            "to": dst,
            "provenance": provenance,
            "confidence": confidence,
            "evidence": evidence,
            **({"calls": calls, "errors": errors or 0, "connection": connection_type} if calls is not None else {}),
        }
        for src, dst, provenance, confidence, evidence, calls, errors, connection_type in rows
    ]


def _recent(ids: list[int] | None, since: datetime) -> dict[int, dict[str, list[Any]]]:
    with connection.cursor() as cur:
        cur.execute(RECENT_SQL, {"all": ids is None, "ids": ids or [], "since": since})
        return dict(cur.fetchall())


def graph(q: MapQuery) -> dict[str, Any]:
    """The map's data: ``services`` (with counts and recent changes by kind), ``edges`` (one per pair of services,
    every provenance that showed it), and ``alert`` when centring on one. Raises ``LookupError`` for an
    unknown alert."""
    alert = _focus(q.alert) if q.alert is not None else None
    if q.alert is not None and alert is None:
        raise LookupError(f"there is no alert {q.alert}")
    focused = alert is not None and not q.whole and not any(q.params().values())
    services = _services(q, alert["focus"] if alert and focused else None)
    rows = list(services.values_list("id", "name", "namespace", "cluster__name", "team").order_by())
    narrowed = focused or any(q.params().values())
    ids = [row[0] for row in rows]
    edges = _edges(None if not narrowed else ids)
    scope: dict[str, Any] = {"service__in": services.values("id")} if narrowed else {"service__isnull": False}
    open_alerts = _counts(
        Alert.objects.filter(status__in=explorer.OPEN, **scope).values("service_id").annotate(n=Count("id")).order_by()
    )
    unhealthy = _counts(
        HealthEpisode.objects.filter(ended_at__isnull=True, **scope)
        .values("service_id")
        .annotate(n=Count("id"))
        .order_by()
    )
    recent = _recent(None if not narrowed else ids, timezone.now() - timedelta(hours=q.hours))
    service_url = url_pattern("web:service")
    return {
        "window_hours": q.hours,
        "now": timezone.now().isoformat(),
        "services": [
            {
                "id": sid,
                "name": name,
                "namespace": namespace,
                "cluster": cluster or "",
                "team": team,
                "url": service_url.format(sid),
                "alerts": open_alerts.get(sid, 0),
                "unhealthy": unhealthy.get(sid, 0),
                "changes": recent.get(sid, {}),
            }
            for sid, name, namespace, cluster, team in rows
        ],
        "edges": edges,
        "alert": alert,
        "focused": focused,
    }


@access.viewer
def graph_json(request: HttpRequest) -> HttpResponse:
    """``graph`` as JSON; bad parameters answer 400 and an unknown alert 404, as problem+json."""
    try:
        q = parse(request.GET)
        return JsonResponse(graph(q))
    except BadParams as exc:
        return problem_response(400, str(exc))
    except LookupError as exc:
        return problem_response(404, str(exc))


@access.viewer
def map_page(request: HttpRequest) -> HttpResponse:
    """The map's shell: filters, legend, the canvas the script fills, and a side panel for what is hovered."""
    try:
        q = parse(request.GET)
    except BadParams as exc:
        return render(request, "web/map.html", {"error": str(exc), "windows": WINDOWS}, status=400)
    if q.alert is not None and not Alert.objects.filter(pk=q.alert).exists():
        raise Http404(f"there is no alert {q.alert}")
    context = {
        "q": q,
        "windows": WINDOWS,
        "data_url": f"{reverse('web:map_graph')}?{q.encoded()}",
        "whole_url": f"?{replace(q, whole=True).encoded()}" if q.alert else "",
        **explorer.filter_choices(),
    }
    return render(request, "web/map.html", context)
