"""The live poll: what was stored since the ids the page last saw (changes and alerts share no clock, but
their ids only grow, so "id > last seen" is exact and rides the primary-key index of every partition)."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, JsonResponse
from django.urls import reverse

from changetrack.models import Alert, Change

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


@login_required
def live(request: HttpRequest) -> JsonResponse:
    """``?change=<last id>&alert=<last id>``: newer changes and alerts (newest last). Without ids, only the
    current high-water marks, so a page can start polling from "now"."""
    after_change, after_alert = _int(request.GET.get("change")), _int(request.GET.get("alert"))
    changes, alerts = [], []
    if after_change is not None:
        for c in Change.objects.select_related("service").filter(id__gt=after_change).order_by("id")[:LIVE_LIMIT]:
            changes.append(
                {
                    "id": c.pk,
                    "kind": c.kind,
                    "summary": c.summary,
                    "service": c.service.name if c.service else "",
                    "service_id": c.service_id,
                    "url": reverse("web:change", args=[c.pk]),
                }
            )
    if after_alert is not None:
        # a re-opened alert keeps its id and is not reported here; the timelines show its new state on refresh
        for a in Alert.objects.select_related("service").filter(id__gt=after_alert).order_by("id")[:LIVE_LIMIT]:
            alerts.append(
                {
                    "id": a.pk,
                    "title": a.title,
                    "status": a.status,
                    "service": a.service.name if a.service else "",
                    "service_id": a.service_id,
                    "url": reverse("web:alert", args=[a.pk]),
                }
            )
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
