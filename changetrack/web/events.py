"""The list under the timeline: every change, alert and health episode of the window, newest first, one page
at a time. "Show more" asks for the rows after the last one shown (a keyset on (start, layer, id), so a late
page costs what the first one costs), and the chart's items already hold the first page."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from django.db.models import Q
from django.urls import reverse

from changetrack.web.timeline import LAYERS, Layer, Query, window_params

PAGE_ROWS = 50


@dataclass(frozen=True)
class Cursor:
    """The sort key of the last row shown: rows strictly after it (older, or same instant and lower) follow."""

    start: datetime
    rank: int
    id: int

    def encode(self) -> str:
        return f"{self.start.isoformat()}~{self.rank}~{self.id}"

    @classmethod
    def decode(cls, raw: str | None) -> Cursor | None:
        """None for anything malformed: a hand-edited ``after`` shows the first page instead of failing."""
        try:
            start, rank, ident = (raw or "").replace(" ", "+").split("~")
            at = datetime.fromisoformat(start)
            return cls(at, int(rank), int(ident)) if at.tzinfo is not None else None
        except ValueError:
            return None


def after(layer: Layer, cursor: Cursor) -> Q:
    """Rows of ``layer`` whose key (start, rank, id) sorts below ``cursor``'s."""
    older = Q(**{f"{layer.start}__lt": cursor.start})
    same = Q(**{layer.start: cursor.start})
    if layer.rank < cursor.rank:
        return older | same
    if layer.rank == cursor.rank:
        return older | (same & Q(id__lt=cursor.id))
    return older


def _merge(
    pools: list[tuple[Layer, list[dict[str, Any]]]], lanes: list[dict[str, Any]], size: int
) -> tuple[list[dict[str, Any]], Cursor | None]:
    """The newest ``size`` rows of ``pools`` (each newest first, at most ``size + 1`` long) and the cursor of
    the next page (None when nothing is left)."""
    names = {lane["id"]: lane["name"] for lane in lanes}
    keyed = [
        ((datetime.fromisoformat(item["start"]), layer.rank, item["id"]), layer, item)
        for layer, items in pools
        for item in items[: size + 1]
    ]
    keyed.sort(key=lambda k: k[0], reverse=True)
    rows = [{**item, "type": layer.type, "service": names.get(item["lane"], "")} for _, layer, item in keyed[:size]]
    more = Cursor(*keyed[size - 1][0]) if len(keyed) > size and size > 0 else None
    return rows, more


def first_page(data: dict[str, Any], size: int = PAGE_ROWS) -> tuple[list[dict[str, Any]], Cursor | None]:
    """The first page, from the items the timeline already fetched (no query)."""
    return _merge([(layer, data[layer.key]) for layer in LAYERS], data["lanes"], size)


def page(
    lanes: list[dict[str, Any]], q: Query, cursor: Cursor | None, size: int = PAGE_ROWS
) -> tuple[list[dict[str, Any]], Cursor | None]:
    """The page of rows after ``cursor`` (from the start when None): one bounded query per layer."""
    ids = [lane["id"] for lane in lanes]
    pools = []
    for layer in LAYERS:
        cond = layer.window(ids, q)
        if cursor is not None:
            cond &= after(layer, cursor)
        pools.append((layer, layer.items(cond, size + 1)))
    return _merge(pools, lanes, size)


def more_url(service_id: int, q: Query, cursor: Cursor | None) -> str:
    """Where "Show more" fetches the next page ("" when there is none)."""
    if cursor is None:
        return ""
    return (
        f"{reverse('web:service_events', args=[service_id])}?{window_params(q)}&{urlencode({'after': cursor.encode()})}"
    )
