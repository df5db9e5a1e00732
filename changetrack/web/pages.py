"""The service explorer, and a service's page with its timeline and the pages of the list under it."""

from __future__ import annotations

from urllib.parse import urlencode

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils import timezone

from changetrack.correlation import engine
from changetrack.models import Alert, Change, ChangeKind, Service
from changetrack.web import access, events, explorer, sourcelinks, timeline

LIKELY_TOP = 5


@access.viewer
def service_list(request: HttpRequest) -> HttpResponse:
    params = {k: request.GET.get(k, "") for k in ("cluster", "namespace", "team", "q", "health")}
    page = explorer.page(params, request.GET.get("page"))
    context = {
        "services": page.object_list,
        "page": page,
        "page_query": urlencode({k: v for k, v in params.items() if v}),
        "params": params,
        **explorer.filter_choices(),
        "filtered": any(params.values()),
    }
    template = "web/_services_rows.html" if request.headers.get("HX-Request") else "web/services.html"
    return render(request, template, context)


@access.viewer
def service_detail(request: HttpRequest, pk: int) -> HttpResponse:
    service = get_object_or_404(Service.objects.select_related("cluster"), pk=pk)
    q = timeline.parse_query(request.GET, default_depth=1)
    data, rows, more = timeline.timeline(service, q, rows=events.PAGE_ROWS)
    return render(
        request,
        "web/service.html",
        {
            "service": service,
            "repository_url": f"{sourcelinks.git_host(service.repository, [], sourcelinks.configured_git_api())}/"
            f"{service.repository}"
            if service.repository
            else "",
            "data": data,
            "events": rows,
            "more_url": events.more_url(service.pk, q, more),
            "events_url": reverse("web:service_events", args=[service.pk]),
            "q": q,
            "kinds": ChangeKind.values,
            "presets": list(timeline.PRESETS),
            "json_url": reverse("web:service_timeline", args=[service.pk]),
            "dependencies": service.dependencies.select_related("depends_on", "depends_on__cluster").order_by(
                "depends_on__name"
            ),
            "dependents": service.dependents.select_related("service", "service__cluster").order_by("service__name"),
        },
    )


@access.viewer
def service_suspects(request: HttpRequest, pk: int) -> HttpResponse:
    """What changed around the service that would most likely explain trouble on it right now: the ranking an
    alert on it would get this minute (nothing stored). Loaded into the service page after it renders.

    An open alert on the service ranks as of its own start, so the same change scores higher on the alert's page
    than here (it was nearer in time then): the fragment says so and links the alert's page."""
    service = get_object_or_404(Service.objects.select_related("cluster"), pk=pk)
    now = timezone.now()
    ranked = engine.rank_at(service, now, LIKELY_TOP, moment=None)  # "27 min ago": the moment is now
    changes = Change.objects.select_related("service").in_bulk([r.change.id for r in ranked])
    rows = [(r, changes[r.change.id]) for r in ranked if r.change.id in changes]
    open_alert = (
        Alert.objects.filter(service=service).exclude(status=Alert.Status.RESOLVED).order_by("-started_at").first()
    )
    template = "web/_service_suspects.html" if request.headers.get("HX-Request") else "web/service_likely.html"
    return render(request, template, {"service": service, "rows": rows, "now": now, "open_alert": open_alert})


@access.viewer
def service_timeline_json(request: HttpRequest, pk: int) -> JsonResponse:
    service = get_object_or_404(Service, pk=pk)
    q = timeline.parse_query(request.GET, default_depth=1)
    return JsonResponse(timeline.timeline(service, q)[0])


@access.viewer
def service_events(request: HttpRequest, pk: int) -> HttpResponse:
    """A page of the list under the timeline: the rows after ``after`` (htmx's "Show more"), the first page of a
    new window (the chart's script, after a zoom or pan), or a plain page of its own without JavaScript."""
    service = get_object_or_404(Service.objects.select_related("cluster"), pk=pk)
    q = timeline.parse_query(request.GET, default_depth=1)
    after = events.decode(request.GET.get("after"))
    rows, more = events.page(timeline.lanes_for(service, q.depth), q, after)
    context = {"service": service, "events": rows, "more_url": events.more_url(service.pk, q, more), "q": q}
    if not request.headers.get("HX-Request"):
        return render(request, "web/events.html", context)
    return render(request, "web/_event_rows.html" if after else "web/_events.html", context)
