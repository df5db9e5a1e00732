"""The data behind the visual timeline: a window, the lanes (the service and its neighbourhood), and the
changes, alerts and health episodes inside the window, as plain JSON-ready dicts.

The same dict feeds the server-rendered event list and the SVG drawn by ``static/changetrack/timeline.js``,
so the two can never disagree. Every query is bounded by the window and by the lane ids, which keeps it on the
per-partition ``(service, -occurred_at)`` index of the change table whatever its size.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from django.db.models import Count, Max, Q
from django.http import QueryDict
from django.urls import reverse
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from changetrack.correlation.engine import neighbourhood
from changetrack.models import Alert, Change, ChangeKind, Dependency, HealthEpisode, Service

PRESETS: dict[str, timedelta] = {
    "1h": timedelta(hours=1),
    "6h": timedelta(hours=6),
    "24h": timedelta(hours=24),
    "7d": timedelta(days=7),
}
MIN_SPAN = timedelta(minutes=5)
MAX_SPAN = timedelta(days=31)
MAX_DEPTH = 3
MAX_LANES = 30
MAX_CHANGES = 1500
MAX_BANDS = 300
LIST_ROWS = 50  # rows of the list rendered by the server; the script renders them all from the same data
_HOOD_CACHE: dict[tuple[Any, ...], dict[int, tuple[int, list[int]]]] = {}
_HOOD_CACHE_SIZE = 1024


@dataclass
class Query:
    """What the viewer asked for: a window [since, until], a depth, and kind/source filters."""

    since: datetime
    until: datetime
    depth: int
    kinds: list[str] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)
    live: bool = False  # the window ends "now" and slides with it

    @property
    def span(self) -> timedelta:
        return self.until - self.since


def _int(raw: str | None, default: int, low: int, high: int) -> int:
    try:
        return max(low, min(high, int(raw or default)))
    except ValueError:
        return default


def _time(raw: str | None) -> datetime | None:
    if not raw:
        return None
    try:
        parsed = parse_datetime(raw.strip().replace(" ", "+"))  # a "+" in a query string arrives as a space
    except ValueError:
        return None
    if parsed is None:
        return None
    if timezone.is_naive(parsed):
        parsed = timezone.make_aware(parsed, UTC)
    return parsed


def parse_query(
    params: QueryDict, *, default_depth: int, centre: datetime | None = None, default_range: str = "24h"
) -> Query:
    """Read ``range`` (a preset) or ``span`` (seconds), ``until``/``since`` (ISO), ``depth``, ``kind``, ``source``.

    Bad values fall back to defaults instead of failing: a hand-edited URL should still show a page. With a
    ``centre`` (an alert's start) and no explicit window, the window is centred on it."""
    now = timezone.now()
    span = PRESETS.get(params.get("range", ""), PRESETS[default_range])
    if params.get("span"):
        span = timedelta(seconds=_int(params.get("span"), int(span.total_seconds()), 60, int(MAX_SPAN.total_seconds())))
    span = max(MIN_SPAN, min(MAX_SPAN, span))
    until, since = _time(params.get("until")), _time(params.get("since"))
    live = False
    if since and until and since < until:
        span = min(until - since, MAX_SPAN)
        since = until - span
    elif until:
        since = until - span
    elif centre is not None:
        since, until = centre - span / 2, centre + span / 2
    else:
        since, until, live = now - span, now, True
    kinds = [k for k in params.getlist("kind") if k in ChangeKind.values]
    sources = [s[:50] for s in params.getlist("source") if s][:20]
    depth = _int(params.get("depth"), default_depth, 0, MAX_DEPTH)
    return Query(since=since, until=until, depth=depth, kinds=kinds, sources=sources, live=live)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _url_pattern(name: str) -> str:
    """``/changes/{}/`` for ``web:change``: one ``reverse`` per response instead of one per event."""
    return reverse(name, args=[987654321]).replace("987654321", "{}")


def graph_version() -> tuple[Any, ...]:
    """Changes whenever an edge is added, removed or seen again (``last_seen_at`` is ``auto_now``)."""
    agg = Dependency.objects.aggregate(n=Count("id"), top=Max("id"), seen=Max("last_seen_at"))
    return (agg["n"], agg["top"], agg["seen"])


def cached_neighbourhood(service_id: int, depth: int) -> dict[int, tuple[int, list[int]]]:
    """``engine.neighbourhood`` (one query per hop and direction), remembered until the graph changes: the
    alert page asks the engine for suspects too, and the graph changes far less often than pages are read."""
    if depth <= 0:
        return {service_id: (0, [service_id])}
    key = (graph_version(), service_id, depth)
    hood = _HOOD_CACHE.get(key)
    if hood is None:
        if len(_HOOD_CACHE) >= _HOOD_CACHE_SIZE:
            _HOOD_CACHE.clear()
        hood = _HOOD_CACHE[key] = neighbourhood(service_id, depth)
    return hood


def lanes_for(service: Service, depth: int) -> list[dict[str, Any]]:
    """The service first, then its neighbours by distance then name (at most ``MAX_LANES``)."""
    hood = cached_neighbourhood(service.pk, depth)
    rows = {s.pk: s for s in Service.objects.select_related("cluster").filter(pk__in=list(hood))}
    names = {pk: s.name for pk, s in rows.items()}
    ordered = sorted(rows.values(), key=lambda s: (hood[s.pk][0], s.name, s.pk))[:MAX_LANES]
    return [
        {
            "id": s.pk,
            "name": s.name,
            "qualified": s.qualified_name,
            "hops": hood[s.pk][0],
            "path": [names.get(i, str(i)) for i in hood[s.pk][1]],
            "url": reverse("web:service", args=[s.pk]),
        }
        for s in ordered
    ]


def _change_filter(lane_ids: list[int], q: Query) -> Q:
    cond = Q(service_id__in=lane_ids, occurred_at__gte=q.since, occurred_at__lte=q.until)
    if q.kinds:
        cond &= Q(kind__in=q.kinds)
    if q.sources:
        cond &= Q(source__in=q.sources)
    return cond


def timeline(service: Service, q: Query, *, focus: datetime | None = None) -> dict[str, Any]:
    """Everything the timeline draws for ``service`` and its lanes in the window of ``q``."""
    lanes = lanes_for(service, q.depth)
    ids = [lane["id"] for lane in lanes]
    names = {lane["id"]: lane["name"] for lane in lanes}
    change_url, alert_url = _url_pattern("web:change"), _url_pattern("web:alert")
    change_rows = list(
        Change.objects.filter(_change_filter(ids, q))
        .order_by("-occurred_at", "-id")
        .values("id", "occurred_at", "ended_at", "kind", "source", "summary", "actor", "status", "service_id")[
            : MAX_CHANGES + 1
        ]
    )
    changes = [
        {
            "id": c["id"],
            "t": _iso(c["occurred_at"]),
            "end": _iso(c["ended_at"]),
            "kind": c["kind"],
            "source": c["source"],
            "summary": c["summary"],
            "actor": c["actor"],
            "status": c["status"],
            "lane": c["service_id"],
            "service": names.get(c["service_id"], ""),
            "url": change_url.format(c["id"]),
        }
        for c in change_rows[:MAX_CHANGES]
    ]
    overlaps = Q(started_at__lte=q.until) & (Q(resolved_at__isnull=True) | Q(resolved_at__gte=q.since))
    alerts = [
        {
            "id": a["id"],
            "start": _iso(a["started_at"]),
            "end": _iso(a["resolved_at"]),
            "title": a["title"],
            "severity": a["severity"],
            "status": a["status"],
            "lane": a["service_id"],
            "service": names.get(a["service_id"], ""),
            "url": alert_url.format(a["id"]),
        }
        for a in Alert.objects.filter(overlaps, service_id__in=ids)
        .order_by("-started_at")
        .values("id", "started_at", "resolved_at", "title", "severity", "status", "service_id")[:MAX_BANDS]
    ]
    episode_overlap = Q(started_at__lte=q.until) & (Q(ended_at__isnull=True) | Q(ended_at__gte=q.since))
    health = [
        {
            "id": h["id"],
            "start": _iso(h["started_at"]),
            "end": _iso(h["ended_at"]),
            "reason": h["reason"],
            "summary": h["summary"],
            "severity": h["severity"],
            "source": h["source"],
            "lane": h["service_id"],
            "service": names.get(h["service_id"], ""),
        }
        for h in HealthEpisode.objects.filter(episode_overlap, service_id__in=ids)
        .order_by("-started_at")
        .values("id", "started_at", "ended_at", "reason", "summary", "severity", "source", "service_id")[:MAX_BANDS]
    ]
    return {
        "service": service.pk,
        "since": _iso(q.since),
        "until": _iso(q.until),
        "now": _iso(timezone.now()),
        "depth": q.depth,
        "kinds": q.kinds,
        "sources": q.sources,
        "live": q.live,
        "focus": _iso(focus),
        "lanes": lanes,
        "changes": changes,
        "alerts": alerts,
        "health": health,
        "truncated": len(change_rows) > MAX_CHANGES,
        "sources_seen": sorted({c["source"] for c in changes} | set(q.sources)),
    }


def query_string(q: Query, **override: Any) -> str:
    """The URL parameters that reproduce ``q`` (used for links from the page)."""
    params = QueryDict(mutable=True)
    params["depth"] = str(override.get("depth", q.depth))
    if not q.live:
        params["since"] = q.since.isoformat()
        params["until"] = q.until.isoformat()
    else:
        params["span"] = str(int(q.span.total_seconds()))
    params.setlist("kind", q.kinds)
    params.setlist("source", q.sources)
    return params.urlencode()


def event_rows(data: dict[str, Any]) -> list[dict[str, Any]]:
    """The newest ``LIST_ROWS`` changes, alerts and health episodes of ``data``, for the list under the chart
    (``timeline.js`` rebuilds the whole list from the same data as soon as it runs)."""
    rows = [
        {
            "type": "change",
            "t": c["t"],
            "service": c["service"],
            "what": c["kind"],
            "summary": c["summary"],
            "url": c["url"],
            "actor": c["actor"],
            "source": c["source"],
        }
        for c in data["changes"]
    ]
    rows += [
        {
            "type": "alert",
            "t": a["start"],
            "service": a["service"],
            "what": f"alert · {a['status']}",
            "summary": a["title"],
            "url": a["url"],
            "actor": "",
            "source": "",
        }
        for a in data["alerts"]
    ]
    rows += [
        {
            "type": "health",
            "t": h["start"],
            "service": h["service"],
            "what": h["reason"],
            "summary": h["summary"],
            "url": "",
            "actor": "",
            "source": h["source"],
        }
        for h in data["health"]
    ]
    rows.sort(key=lambda r: r["t"] or "", reverse=True)
    return rows[:LIST_ROWS]
