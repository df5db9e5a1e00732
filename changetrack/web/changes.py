"""A change's page: the field diff, rollout, commits, flag state, links, actor and the rest of its release."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render

from changetrack.models import Alert, Change, Feedback, Suspect
from changetrack.web import access, details

SIBLING_LIMIT = 20
SUSPECTED_TOP = 5  # a change ranked lower than this for an alert is not worth listing on the change


@access.viewer
def change_detail(request: HttpRequest, pk: int) -> HttpResponse:
    change = get_object_or_404(Change.objects.select_related("service", "service__cluster"), pk=pk)
    siblings = list(change.same_release().select_related("service").order_by("occurred_at")[:SIBLING_LIMIT])
    verdicts = list(Feedback.objects.filter(change_id=change.pk).order_by("-created_at")[:20])
    alerts = {a.pk: a for a in Alert.objects.filter(pk__in=[v.alert_id for v in verdicts])}
    suspected = list(
        Suspect.objects.select_related("alert", "alert__service")
        .filter(change_id=change.pk, rank__lte=SUSPECTED_TOP)
        .order_by("-alert__started_at")[:20]
    )
    repository = change.repository or (change.service.repository if change.service else "")
    return render(
        request,
        "web/change.html",
        {
            "change": change,
            "siblings": siblings,
            "diff": details.diff_rows(change.diff),
            "commits": details.commit_range(change.details, repository),
            "flag": details.flag_change(change.kind, change.details, change.diff)
            if change.kind == "feature_flag"
            else None,
            "links": details.links(change.links, change.details, change.source),
            "rollout": details.rollout(change.details),
            "other": details.other_details(change.details),
            "verdicts": [(v, alerts.get(v.alert_id)) for v in verdicts],
            "suspected": suspected,
            "back": request.GET.get("from", "") if request.GET.get("from", "").isdigit() else "",
        },
    )
