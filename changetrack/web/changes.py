"""A change's page: the field diff, rollout, commits, flag state, links out, actor, the rest of its release, what
reverted it, and every verdict responders gave it."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render

from changetrack.models import Change, Suspect
from changetrack.web import access, details, sourcelinks, verdicts

SIBLING_LIMIT = 20
SUSPECTED_TOP = 5  # a change ranked lower than this for an alert is not worth listing on the change


@access.viewer
def change_detail(request: HttpRequest, pk: int) -> HttpResponse:
    change = get_object_or_404(Change.objects.select_related("service", "service__cluster"), pk=pk)
    siblings = list(change.same_release().select_related("service").order_by("occurred_at")[:SIBLING_LIMIT])
    suspected = list(
        Suspect.objects.select_related("alert", "alert__service")
        .filter(change_id=change.pk, rank__lte=SUSPECTED_TOP)
        .order_by("-alert__started_at")[:20]
    )
    repository = change.repository or (change.service.repository if change.service else "")
    configured = sourcelinks.configured_git_api()
    host = sourcelinks.git_host(repository, [change.links, change.details], configured) if repository else ""
    undone, undone_by = sourcelinks.reverts(change)
    return render(
        request,
        "web/change.html",
        {
            "change": change,
            "source_label": sourcelinks.source_label(change.source),
            "siblings": siblings,
            "diff": details.diff_rows(change.diff),
            "commits": details.commit_range(change.details, repository, host or sourcelinks.DEFAULT_GIT_HOST),
            "flag": details.flag_change(change.kind, change.details, change.diff)
            if change.kind == "feature_flag"
            else None,
            "links": sourcelinks.change_links(change, configured),
            "reverts": undone,
            "reverted_by": undone_by,
            "rollout": details.rollout(change.details),
            "other": details.other_details(change.details),
            "verdicts": verdicts.history_of_change(change.pk),
            "suspected": suspected,
            "back": request.GET.get("from", "") if request.GET.get("from", "").isdigit() else "",
        },
    )
