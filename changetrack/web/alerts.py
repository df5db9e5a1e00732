"""The alert page: lifecycle, the timeline ending shortly after the alert with the suspects marked on it by rank,
ranked suspects with their links out, and the verdict buttons (a verdict can be undone; the undo is recorded)."""

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
from django.utils import timezone
from django.views.decorators.http import require_POST

from changetrack import roles
from changetrack.correlation import engine, feedback, triggers
from changetrack.infra.problems import problem_response
from changetrack.models import Alert, Change, ChangeKind, Feedback, Suspect
from changetrack.web import access, events, sourcelinks, timeline, verdicts

logger = logging.getLogger(__name__)
SUSPECT_LIMIT = 10
#: the timeline's default depth reaches the deepest of this many top suspects: the ones a responder reads first
#: are all on the chart, while a tenth-ranked suspect three hops away does not triple the lanes
DEPTH_TOP = 5
UNDO = "undo"


@dataclass
class SuspectRow:
    suspect: Suspect
    change: Change | None
    components: list[tuple[str, float]]
    verdict: str
    marked: verdicts.Marked | None = None
    links: list[sourcelinks.Link] | None = None

    @property
    def unlinked(self) -> str:
        """ "No known dependency: same team (payments)" when the engine admitted this change without a known edge
        (its stored path is then the two services, not an edge to follow), else ""."""
        if self.suspect.relation and self.suspect.relation != "none":
            return ""
        return next((r for r in self.suspect.reasons if str(r).startswith("No known dependency")), "")


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
        "id",
        "kind",
        "source",
        "summary",
        "actor",
        "occurred_at",
        "links",
        "details",
        "commit_sha",
        "repository",
        "service__id",
        "service__name",
        "service__repository",
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
    marked = verdicts.current(alert, ids)
    configured = sourcelinks.configured_git_api()
    rows = []
    for s in suspects:
        change, mark = changes.get(s.change_id), marked.get(s.change_id)
        links = sourcelinks.change_links(change, configured) if change is not None else []
        rows.append(SuspectRow(s, change, _components(s.components), mark.verdict if mark else "", mark, links))
    return rows


def default_depth(suspects: list[Suspect]) -> int:
    """The related depth that puts the top suspects on the chart: the most hops among the first ``DEPTH_TOP``
    (at least 1, at most the chart's limit)."""
    hops = [s.hops for s in suspects[:DEPTH_TOP]]
    return max(1, min(timeline.MAX_DEPTH, max(hops, default=1)))


def default_range(alert: Alert, suspects: list[Suspect]) -> str:
    """The shortest preset whose window (ending shortly after the alert) still shows the top suspects: a deploy ten
    hours before the alert is not left off a six-hour chart."""
    ids = [s.change_id for s in suspects[:DEPTH_TOP]]
    oldest = min(Change.objects.filter(pk__in=ids).values_list("occurred_at", flat=True), default=None)
    now = timezone.now()
    for name, span in timeline.PRESETS.items():
        if span >= timeline.PRESETS["6h"] and (
            oldest is None or timeline.around(alert.started_at, span, now)[0] <= oldest
        ):
            return name
    return list(timeline.PRESETS)[-1]


def _with_suspects(data: dict[str, Any], suspects: list[Suspect]) -> dict[str, Any]:
    """The chart's data with each suspect's rank by change id, for the rank badges on its markers."""
    data["suspects"] = {str(s.change_id): s.rank for s in suspects}
    return data


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
    rows = suspect_rows(alert)
    suspects = [r.suspect for r in rows]
    context: dict[str, Any] = {
        "alert": alert,
        "rows": rows,
        "source_label": sourcelinks.source_label(alert.source),
        "alert_links": sourcelinks.alert_links(alert),
        "no_change_stands_out": engine.no_change_stands_out(suspects[0].score if suspects else None),
        "lifecycle": _lifecycle(alert),
        "kinds": ChangeKind.values,
        "presets": list(timeline.PRESETS),
    }
    if alert.service is not None:
        q = timeline.parse_query(
            request.GET,
            default_depth=default_depth(suspects),
            focus=alert.started_at,
            default_range=default_range(alert, suspects),
        )
        data, listed, more = timeline.timeline(alert.service, q, focus=alert.started_at, rows=events.PAGE_ROWS)
        context.update(
            q=q,
            data=_with_suspects(data, suspects),
            events=listed,
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
    suspects = engine.current_suspects(alert, SUSPECT_LIMIT)
    q = timeline.parse_query(
        request.GET,
        default_depth=default_depth(suspects),
        focus=alert.started_at,
        default_range=default_range(alert, suspects),
    )
    return JsonResponse(_with_suspects(timeline.timeline(alert.service, q, focus=alert.started_at)[0], suspects))


@access.requires(roles.RECORD_VERDICT)
@require_POST
def alert_feedback(request: HttpRequest, pk: int) -> HttpResponse:
    """Record "caused it" / "unrelated" for one suspect, or undo its verdict (recorded, not erased), then back to
    the alert."""
    alert = get_object_or_404(Alert, pk=pk)
    verdict = request.POST.get("verdict", "")
    try:
        change_id = int(request.POST.get("change_id", ""))
    except ValueError:
        return HttpResponseBadRequest("change_id must be a number")
    if verdict not in (*Feedback.Verdict.values, UNDO):
        return HttpResponseBadRequest("verdict must be caused, unrelated or undo")
    if not Change.objects.filter(pk=change_id).exists():
        return HttpResponseBadRequest("no such change")
    if verdict == UNDO:
        if verdicts.undo(alert, change_id, actor=request.user.get_username()):
            logger.info("web.feedback.undone", extra={"alert": alert.pk, "change": change_id})
            messages.success(request, f"Verdict on change #{change_id} undone (the history keeps it).")
        return redirect(reverse("web:alert", args=[alert.pk]) + "#suspects")
    feedback.record(alert, change_id, verdict, author=request.user.get_username())
    logger.info("web.feedback.recorded", extra={"alert": alert.pk, "change": change_id, "verdict": verdict})
    label = "caused it" if verdict == Feedback.Verdict.CAUSED else "unrelated"
    messages.success(request, f"Marked change #{change_id} as {label}.")
    return redirect(reverse("web:alert", args=[alert.pk]) + "#suspects")
