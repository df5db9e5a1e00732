"""The list under the timeline: every change, alert and health episode of the window, newest first, one page
at a time. "Show more" asks for the entries after the last one shown with the shared timeline query's cursor (a
keyset, so a late page costs what the first one costs); the chart's data already holds the first page."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django.urls import reverse

from changetrack import timeline as shared
from changetrack.web.timeline import Query, filters, items, window_params

PAGE_ROWS = 50


def decode(raw: str | None) -> shared.Cursor | None:
    """None for a missing or malformed cursor: a hand-edited ``after`` shows the first page instead of failing."""
    try:
        return shared.Cursor.decode(raw) if raw else None
    except shared.InvalidCursor:
        return None


def page(
    lanes: list[dict[str, Any]], q: Query, cursor: shared.Cursor | None, size: int = PAGE_ROWS
) -> tuple[list[dict[str, Any]], shared.Cursor | None]:
    """The rows after ``cursor`` (from the newest when None) and the cursor of the next page: one query."""
    found, more = shared.page([lane["id"] for lane in lanes], filters(q), size, cursor)
    return items(found, {lane["id"]: lane["name"] for lane in lanes}), more


def more_url(service_id: int, q: Query, cursor: shared.Cursor | None) -> str:
    """Where "Show more" fetches the next page ("" when there is none)."""
    if cursor is None:
        return ""
    return (
        f"{reverse('web:service_events', args=[service_id])}?{window_params(q)}&{urlencode({'after': cursor.encode()})}"
    )
