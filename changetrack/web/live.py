"""The live poll: what was stored since the ids the page last saw (changes and alerts share no clock, but
their ids only grow, so "id > last seen" is exact and rides the primary-key index of every partition)."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, JsonResponse

from changetrack.models import Alert, Change
from changetrack.web import access
from changetrack.web.links import url_pattern

LIVE_LIMIT = 20


def _int(raw: str | None) -> int | None:
    try:
        return int(raw) if raw not in (None, "") else None
    except ValueError:
        return None


def _latest_change_id() -> int:
    return Change.objects.order_by("-id").values_list("id", flat=True).first() or 0


def _latest_alert_id() -> int:
    return Alert.objects.order_by("-id").values_list("id", flat=True).first() or 0


def _newer(model: type[Change] | type[Alert], after: int | None, url_name: str, *fields: str) -> list[dict[str, Any]]:
    """Rows of ``model`` with an id above ``after``, oldest first (at most ``LIVE_LIMIT``); none without ``after``."""
    if after is None:
        return []
    url = url_pattern(url_name)
    rows = []
    for row in (
        model.objects.filter(id__gt=after)
        .order_by("id")
        .values("id", *fields, "service_id", "service__name")[:LIVE_LIMIT]
    ):
        name = row.pop("service__name")
        rows.append({**row, "service": name or "", "url": url.format(row["id"])})
    return rows


@access.viewer
def live(request: HttpRequest) -> JsonResponse:
    """``?change=<last id>&alert=<last id>``: newer changes and alerts (newest last). Without ids, only the
    current high-water marks, so a page can start polling from "now"."""
    after_change, after_alert = _int(request.GET.get("change")), _int(request.GET.get("alert"))
    # a re-opened alert keeps its id and is not reported here; the timelines show its new state on refresh
    changes = _newer(Change, after_change, "web:change", "kind", "summary")
    alerts = _newer(Alert, after_alert, "web:alert", "title", "status")
    return JsonResponse(
        {
            "change": changes[-1]["id"]
            if changes
            else (after_change if after_change is not None else _latest_change_id()),
            "alert": alerts[-1]["id"] if alerts else (after_alert if after_alert is not None else _latest_alert_id()),
            "changes": changes,
            "alerts": alerts,
        }
    )
