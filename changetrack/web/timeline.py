"""The data behind the visual timeline: a window, the lanes (the service and its neighbourhood), and the
changes, alerts and health episodes inside the window, as plain JSON-ready dicts.

The entries come from the one timeline query (:mod:`changetrack.timeline`, shared with the API); the same items
feed the SVG drawn by ``static/changetrack/timeline.js`` and the first page of the list under it (``events.py``
pages through the rest with the same query and cursor), so the two can never disagree.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from django.http import QueryDict
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from changetrack import timeline as shared
from changetrack.correlation.engine import neighbourhood
from changetrack.models import ChangeKind, Service
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


def around(focus: datetime, span: timedelta, now: datetime) -> tuple[datetime, datetime]:
    """A window of ``span`` that ends shortly after ``focus`` (an alert's start): an eighth of the span after it
    (at least five minutes), and not past now when now comes sooner, so the chart is the lead-up to the alert
    rather than half empty future. ``static/changetrack/timeline.js`` (``around``) does the same for a preset."""
    until = min(focus + max(span / 8, timedelta(minutes=5)), max(now, focus + timedelta(minutes=5)))
    return until - span, until


def parse_query(
    params: QueryDict, *, default_depth: int, focus: datetime | None = None, default_range: str = "24h"
) -> Query:
    """Read ``range`` (a preset) or ``span`` (seconds), ``until``/``since`` (ISO), ``depth``, ``kind``, ``source``.

    Bad values fall back to defaults instead of failing: a hand-edited URL should still show a page. With a
    ``focus`` (an alert's start) and no explicit window, the window ends shortly after it (``around``), and is live
    when that is now."""
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
    elif focus is not None:
        since, until = around(focus, span, now)
        live = until >= now  # a recent alert: the window ends now and keeps up with what arrives
    else:
        since, until, live = now - span, now, True
    kinds = [k for k in params.getlist("kind") if k in ChangeKind.values]
    sources = [s[:50] for s in params.getlist("source") if s][:20]
    depth = _int(params.get("depth"), default_depth, 0, MAX_DEPTH)
    return Query(since=since, until=until, depth=depth, kinds=kinds, sources=sources, live=live)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def filters(q: Query) -> shared.Filters:
    """The page's window in the shared query's terms: incidents are bands, filters narrow only the changes."""
    return shared.Filters(q.since, q.until, tuple(q.kinds), tuple(q.sources), bands=True)


@dataclass(frozen=True)
class Layer:
    """How one type of entry is drawn: the key of its item list in the timeline data, how many the chart draws,
    where its detail page is, and which of the entry's columns the chart and the list read (``{item: column}``).

    Every item has the same frame: ``id``, ``start``, ``end``, ``lane`` (the service id), ``url`` (or ``""``)."""

    key: str
    limit: int  # items drawn on the chart (the list pages through all of them)
    url_name: str
    fields: dict[str, str]


LAYERS = {
    "change": Layer(
        "changes",
        MAX_CHANGES,
        "web:change",
        {"kind": "kind", "source": "source", "summary": "summary", "actor": "actor", "status": "status"},
    ),
    "alert": Layer("alerts", MAX_BANDS, "web:alert", {"title": "summary", "severity": "severity", "status": "status"}),
    "health": Layer(
        "health", MAX_BANDS, "", {"reason": "reason", "summary": "summary", "severity": "severity", "source": "source"}
    ),
}


def items(entries: list[dict[str, Any]], names: dict[int, str]) -> list[dict[str, Any]]:
    """Entries of the shared query as the items the chart draws and the list shows (with ``type`` and the
    lane's ``service`` name), in the query's order."""
    urls = {what: url_pattern(layer.url_name) if layer.url_name else "" for what, layer in LAYERS.items()}
    out = []
    for entry in entries:
        what = entry["type"]
        item = {"id": entry["id"], "start": _iso(entry["timestamp"]), "end": _iso(entry["ended_at"])}
        item["lane"] = entry["service_id"]
        item["url"] = urls[what].format(entry["id"]) if urls[what] else ""
        item.update((name, entry[column]) for name, column in LAYERS[what].fields.items())
        item["type"], item["service"] = what, names.get(entry["service_id"], "")
        out.append(item)
    return out


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


def timeline(
    service: Service, q: Query, *, focus: datetime | None = None, rows: int = 0
) -> tuple[dict[str, Any], list[dict[str, Any]], shared.Cursor | None]:
    """Everything the chart draws for ``service`` and its lanes in the window of ``q`` (one query for the
    entries), and the first ``rows`` of the list under it with the cursor of its next page."""
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
    caps = {what: layer.limit + 1 for what, layer in LAYERS.items()}
    names = {lane["id"]: lane["name"] for lane in lanes}
    found = shared.run(shared.build_query(ids, filters(q), limit=None, caps=caps))
    # the list's first page is the head of the same ordered entries (every cap is larger than a page)
    head, more = shared.cut(found, rows)
    drawn = items(found, names)
    for what, layer in LAYERS.items():
        data[layer.key] = [_chart_item(i) for i in drawn if i["type"] == what]
    data["truncated"] = len(data["changes"]) > MAX_CHANGES
    for layer in LAYERS.values():
        del data[layer.key][layer.limit :]
    data["sources_seen"] = sorted({c["source"] for c in data["changes"]} | set(q.sources))
    return data, drawn[: len(head)], more


def _chart_item(item: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in item.items() if k not in ("type", "service")}


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
