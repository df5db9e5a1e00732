"""The data behind the visual timeline: a window, the lanes (the service and its neighbourhood), and the
changes, alerts and health episodes inside the window, as plain JSON-ready dicts.

The same items feed the SVG drawn by ``static/changetrack/timeline.js`` and the first page of the list under
it (``events.py`` pages through the rest with the same ``Layer`` definitions), so the two can never disagree. Every query is bounded by the window and by the lane ids, which keeps it on the
per-partition ``(service, -occurred_at)`` index of the change table whatever its size.
"""

from __future__ import annotations

import builtins
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from django.db.models import Model, Q
from django.http import QueryDict
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from changetrack.correlation.engine import neighbourhood
from changetrack.models import Alert, Change, ChangeKind, HealthEpisode, Service
from changetrack.web.links import url_pattern

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


@dataclass(frozen=True)
class Layer:
    """One kind of event on the timeline: which rows, which columns, and where its detail page is.

    Every layer becomes items of one shape: ``id``, ``start``, ``end``, ``lane`` (the service id), ``url`` (or
    ``""``) and the layer's own ``fields``; the chart and the list under it both read these items."""

    key: str  # the item list's key in the timeline data
    type: str  # the row type in the list ("change", "alert", "health")
    rank: int  # order among events at the same instant (the list's keyset needs a total order)
    model: builtins.type[Model]
    start: str
    end: str
    fields: tuple[str, ...]
    url_name: str
    limit: int  # items drawn on the chart (the list pages through all of them)
    point: bool  # a change is drawn at its start; alerts and episodes are bands that may start before the window

    def window(self, lane_ids: list[int], q: Query) -> Q:
        cond = Q(service_id__in=lane_ids)
        if self.point:
            cond &= Q(**{f"{self.start}__gte": q.since, f"{self.start}__lte": q.until})
            if q.kinds:
                cond &= Q(kind__in=q.kinds)
            if q.sources:
                cond &= Q(source__in=q.sources)
            return cond
        ongoing = Q(**{f"{self.end}__isnull": True}) | Q(**{f"{self.end}__gte": q.since})
        return cond & Q(**{f"{self.start}__lte": q.until}) & ongoing

    def items(self, cond: Q, limit: int) -> list[dict[str, Any]]:
        """Rows matching ``cond``, newest first, as items (one query; no model instances)."""
        url = url_pattern(self.url_name) if self.url_name else ""
        columns = ("id", self.start, self.end, "service_id", *self.fields)
        out = []
        for row in (
            self.model._default_manager.filter(cond).order_by(f"-{self.start}", "-id").values_list(*columns)[:limit]
        ):
            item = {"id": row[0], "start": _iso(row[1]), "end": _iso(row[2]), "lane": row[3]}
            item["url"] = url.format(row[0]) if url else ""
            item.update(zip(self.fields, row[4:], strict=True))
            out.append(item)
        return out


LAYERS = (
    Layer(
        key="changes",
        type="change",
        rank=0,
        model=Change,
        start="occurred_at",
        end="ended_at",
        fields=("kind", "source", "summary", "actor", "status"),
        url_name="web:change",
        limit=MAX_CHANGES,
        point=True,
    ),
    Layer(
        key="alerts",
        type="alert",
        rank=1,
        model=Alert,
        start="started_at",
        end="resolved_at",
        fields=("title", "severity", "status"),
        url_name="web:alert",
        limit=MAX_BANDS,
        point=False,
    ),
    Layer(
        key="health",
        type="health",
        rank=2,
        model=HealthEpisode,
        start="started_at",
        end="ended_at",
        fields=("reason", "summary", "severity", "source"),
        url_name="",
        limit=MAX_BANDS,
        point=False,
    ),
)


def lanes_for(service: Service, depth: int) -> list[dict[str, Any]]:
    """The service first, then its neighbours by distance then name (at most ``MAX_LANES``). The walk runs on the
    correlation engine's process-wide copy of the graph (one freshness query), not one query per hop."""
    hood = neighbourhood(service.pk, depth) if depth > 0 else {service.pk: (0, [service.pk])}
    rows = {s.pk: s for s in Service.objects.select_related("cluster").filter(pk__in=list(hood))}
    names = {pk: s.name for pk, s in rows.items()}
    ordered = sorted(rows.values(), key=lambda s: (hood[s.pk][0], s.name, s.pk))[:MAX_LANES]
    service_url = url_pattern("web:service")
    return [
        {
            "id": s.pk,
            "name": s.name,
            "qualified": s.qualified_name,
            "hops": hood[s.pk][0],
            "path": [names.get(i, str(i)) for i in hood[s.pk][1]],
            "url": service_url.format(s.pk),
        }
        for s in ordered
    ]


def timeline(service: Service, q: Query, *, focus: datetime | None = None) -> dict[str, Any]:
    """Everything the timeline draws for ``service`` and its lanes in the window of ``q``."""
    lanes = lanes_for(service, q.depth)
    ids = [lane["id"] for lane in lanes]
    data: dict[str, Any] = {
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
    }
    for layer in LAYERS:
        data[layer.key] = layer.items(layer.window(ids, q), layer.limit + 1)
    data["truncated"] = len(data["changes"]) > MAX_CHANGES
    for layer in LAYERS:
        del data[layer.key][layer.limit :]
    data["sources_seen"] = sorted({c["source"] for c in data["changes"]} | set(q.sources))
    return data


def window_params(q: Query) -> str:
    """URL parameters for exactly this window (fixed ``since``/``until`` even when the page is live), so that
    the pages of the list under the chart never shift while someone reads them."""
    params = QueryDict(mutable=True)
    params["depth"] = str(q.depth)
    params["since"] = q.since.isoformat()
    params["until"] = q.until.isoformat()
    params.setlist("kind", q.kinds)
    params.setlist("source", q.sources)
    return params.urlencode()
