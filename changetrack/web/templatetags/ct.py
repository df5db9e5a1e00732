"""Template helpers: times the viewer's browser localises, safe links, bar widths."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django import template
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.html import format_html

from changetrack.web.details import safe_url
from changetrack.web.preferences import times_of
from changetrack.web.sourcelinks import source_label as label_of

register = template.Library()


@register.filter
def when(value: datetime | str | None, style: str = "") -> str:
    """``<time datetime=ISO title=UTC>`` with UTC text; ``static/changetrack/app.js`` rewrites the text in the
    viewer's chosen zone (UTC or the browser's, named in the text) and keeps UTC to the second on hover. ``style="ago"`` asks for a relative time."""
    if value is None or value == "":
        return "—"
    if isinstance(value, str):
        parsed = parse_datetime(value)
        if parsed is None:
            return format_html('<time datetime="{}" data-style="{}">{}</time>', value, style, value)
        value = parsed if timezone.is_aware(parsed) else timezone.make_aware(parsed, timezone.get_fixed_timezone(0))
    utc = timezone.localtime(value, timezone.get_fixed_timezone(0))
    text = utc.strftime("%Y-%m-%d %H:%M UTC")  # what a page without JavaScript shows; app.js has the one format
    title = utc.strftime("%Y-%m-%d %H:%M:%S UTC")
    return format_html('<time datetime="{}" title="{}" data-style="{}">{}</time>', utc.isoformat(), title, style, text)


@register.filter
def url_or_empty(value: Any) -> str:
    return safe_url(value)


@register.filter
def percent(value: Any) -> int:
    """A 0..1 score as a whole percentage for a bar width (clamped: a bad score never breaks the layout)."""
    try:
        return max(0, min(100, round(float(value) * 100)))
    except (TypeError, ValueError):
        return 0


@register.filter
def get(mapping: Any, key: Any) -> Any:
    return mapping.get(key) if isinstance(mapping, dict) else None


@register.filter
def source_label(slug: str) -> str:
    """``datadog`` → ``Datadog``: how the source calls itself."""
    return label_of(str(slug))


@register.simple_tag(takes_context=True)
def times_pref(context: template.Context) -> str:
    """``utc`` or ``local``: how the logged-in person reads times (``UserPreference``)."""
    request = context.get("request")
    return times_of(getattr(request, "user", None))
