"""The alert page: lifecycle, the timeline centred on the alert, ranked suspects and the feedback buttons."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from changetrack import roles
from changetrack.correlation import engine, feedback, triggers
from changetrack.infra.problems import problem_response
from changetrack.models import Alert, Change, ChangeKind, Feedback, Suspect
from changetrack.web import access, events, timeline

logger = logging.getLogger(__name__)
SUSPECT_LIMIT = 10


@dataclass
class SuspectRow:
    suspect: Suspect
    change: Change | None
    components: list[tuple[str, float]]
    verdict: str


def _components(raw: Any) -> list[tuple[str, float]]:
    """``{"time": 0.9, "graph": 0.5}`` → sorted pairs; non-numbers are skipped (the engine's shape may grow)."""
    out = []
    for name, value in raw.items() if isinstance(raw, dict) else []:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            out.append((str(name), float(value)))
    return sorted(out, key=lambda kv: -kv[1])


def _changes(alert: Alert, ids: list[int]) -> dict[int, Change]:
    """The suspects' changes. Suspects lie inside the longest correlation window before the alert (plus the
    clock skew after it), so the lookup is bounded to those days' partitions instead of probing every day's
    primary key index; anything not found there (a window shortened since) is looked up unbounded."""
    qs = Change.objects.select_related("service").only(
        "id", "kind", "source", "summary", "actor", "occurred_at", "service__id", "service__name"
    )
    lo = alert.started_at - timedelta(minutes=triggers.longest_window_minutes())
    hi = alert.started_at + timedelta(minutes=settings.CORRELATION_SKEW_MINUTES)
    found = {c.pk: c for c in qs.filter(pk__in=ids, occurred_at__gte=lo, occurred_at__lte=hi)}
    missing = [i for i in ids if i not in found]
    if missing:
        found.update((c.pk, c) for c in qs.filter(pk__in=missing))
    return found


def suspect_rows(alert: Alert) -> list[SuspectRow]:
    suspects = engine.current_suspects(alert, SUSPECT_LIMIT)
    ids = [s.change_id for s in suspects]
    changes = _changes(alert, ids)
    verdicts = dict(Feedback.objects.filter(alert=alert, change_id__in=ids).values_list("change_id", "verdict"))
    return [
        SuspectRow(s, changes.get(s.change_id), _components(s.components), verdicts.get(s.change_id, ""))
        for s in suspects
    ]


def _lifecycle(alert: Alert) -> list[tuple[str, Any]]:
    steps: list[tuple[str, Any]] = [("Triggered", alert.started_at)]
    if alert.acknowledged_at:
        steps.append(("Acknowledged", alert.acknowledged_at))
    if alert.resolved_at:
        steps.append(("Resolved", alert.resolved_at))
    return steps


@access.viewer
def alert_detail(request: HttpRequest, pk: int) -> HttpResponse:
    alert = get_object_or_404(Alert.objects.select_related("service", "service__cluster"), pk=pk)
    context: dict[str, Any] = {
        "alert": alert,
        "rows": (suspects := suspect_rows(alert)),
        "no_change_stands_out": engine.no_change_stands_out(suspects[0].suspect.score if suspects else None),
        "lifecycle": _lifecycle(alert),
        "kinds": ChangeKind.values,
        "presets": list(timeline.PRESETS),
    }
    if alert.service is not None:
        q = timeline.parse_query(request.GET, default_depth=1, centre=alert.started_at, default_range="6h")
        data, rows, more = timeline.timeline(alert.service, q, focus=alert.started_at, rows=events.PAGE_ROWS)
        context.update(
            q=q,
            data=data,
            events=rows,
            more_url=events.more_url(alert.service.pk, q, more),
            events_url=reverse("web:service_events", args=[alert.service.pk]),
            json_url=reverse("web:alert_timeline", args=[alert.pk]),
        )
    duration = (alert.resolved_at or alert.last_event_at) - alert.started_at
    context["duration_minutes"] = int(duration.total_seconds() // 60)
    return render(request, "web/alert.html", context)


@access.viewer
def alert_timeline_json(request: HttpRequest, pk: int) -> JsonResponse:
    alert = get_object_or_404(Alert.objects.select_related("service"), pk=pk)
    if alert.service is None:
        return problem_response(404, "this alert is not mapped to a service")
    q = timeline.parse_query(request.GET, default_depth=1, centre=alert.started_at, default_range="6h")
    return JsonResponse(timeline.timeline(alert.service, q, focus=alert.started_at)[0])


@access.requires(roles.RECORD_VERDICT)
@require_POST
def alert_feedback(request: HttpRequest, pk: int) -> HttpResponse:
    """Record "caused it" / "unrelated" for one suspect, then back to the alert (or a fragment for htmx)."""
    alert = get_object_or_404(Alert, pk=pk)
    verdict = request.POST.get("verdict", "")
    try:
        change_id = int(request.POST.get("change_id", ""))
    except ValueError:
        return HttpResponseBadRequest("change_id must be a number")
    if verdict not in Feedback.Verdict.values:
        return HttpResponseBadRequest("verdict must be caused or unrelated")
    if not Change.objects.filter(pk=change_id).exists():
        return HttpResponseBadRequest("no such change")
    feedback.record(alert, change_id, verdict, author=request.user.get_username())
    logger.info("web.feedback.recorded", extra={"alert": alert.pk, "change": change_id, "verdict": verdict})
    label = "caused it" if verdict == Feedback.Verdict.CAUSED else "unrelated"
    messages.success(request, f"Marked change #{change_id} as {label}.")
    return redirect(reverse("web:alert", args=[alert.pk]) + "#suspects")
