"""The service explorer, a service's page with its timeline, and the "what changed" feed."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlencode

from django.contrib.auth.decorators import login_required
from django.db.models import Q
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils import timezone

from changetrack.models import Alert, Change, ChangeKind, Cluster, Service
from changetrack.web import events, explorer, timeline

FEED_LIMIT = 200
FEED_MAX_MINUTES = 7 * 24 * 60


@login_required
def service_list(request: HttpRequest) -> HttpResponse:
    params = {k: request.GET.get(k, "") for k in ("cluster", "namespace", "team", "q", "health")}
    page = explorer.page(params, request.GET.get("page"))
    context = {
        "services": page.object_list,
        "page": page,
        "page_query": urlencode({k: v for k, v in params.items() if v}),
        "params": params,
        "clusters": Cluster.objects.values_list("name", flat=True).order_by("name"),
        "namespaces": Service.objects.exclude(namespace="")
        .values_list("namespace", flat=True)
        .distinct()
        .order_by("namespace"),
        "teams": Service.objects.exclude(team="").values_list("team", flat=True).distinct().order_by("team"),
        "filtered": any(params.values()),
    }
    template = "web/_services_rows.html" if request.headers.get("HX-Request") else "web/services.html"
    return render(request, template, context)


@login_required
def service_detail(request: HttpRequest, pk: int) -> HttpResponse:
    service = get_object_or_404(Service.objects.select_related("cluster"), pk=pk)
    q = timeline.parse_query(request.GET, default_depth=1)
    data = timeline.timeline(service, q)
    rows, more = events.first_page(data)
    return render(
        request,
        "web/service.html",
        {
            "service": service,
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


@login_required
def service_timeline_json(request: HttpRequest, pk: int) -> JsonResponse:
    service = get_object_or_404(Service, pk=pk)
    q = timeline.parse_query(request.GET, default_depth=1)
    return JsonResponse(timeline.timeline(service, q))


@login_required
def service_events(request: HttpRequest, pk: int) -> HttpResponse:
    """A page of the list under the timeline: the rows after ``after`` (htmx's "Show more"), the first page of a
    new window (the chart's script, after a zoom or pan), or a plain page of its own without JavaScript."""
    service = get_object_or_404(Service.objects.select_related("cluster"), pk=pk)
    q = timeline.parse_query(request.GET, default_depth=1)
    after = events.Cursor.decode(request.GET.get("after"))
    rows, more = events.page(timeline.lanes_for(service, q.depth), q, after)
    context = {"service": service, "events": rows, "more_url": events.more_url(service.pk, q, more), "q": q}
    if not request.headers.get("HX-Request"):
        return render(request, "web/events.html", context)
    return render(request, "web/_event_rows.html" if after else "web/_events.html", context)


def feed_rows(params: dict[str, str], minutes: int) -> list[Change]:
    since = timezone.now() - timedelta(minutes=minutes)
    qs = (
        Change.objects.select_related("service", "service__cluster")
        .filter(occurred_at__gte=since)
        .only(
            "id",
            "occurred_at",
            "kind",
            "summary",
            "actor",
            "source",
            "service__id",
            "service__name",
            "service__cluster__name",
        )
    )
    if params.get("kind") in ChangeKind.values:
        qs = qs.filter(kind=params["kind"])
    if params.get("source"):
        qs = qs.filter(source=params["source"][:50])
    if params.get("cluster"):
        qs = qs.filter(service__cluster__name=params["cluster"])
    if params.get("namespace"):
        qs = qs.filter(service__namespace=params["namespace"])
    if params.get("team"):
        qs = qs.filter(service__team=params["team"])
    if params.get("q"):
        term = params["q"].strip()[:200]
        qs = qs.filter(Q(summary__icontains=term) | Q(actor__icontains=term) | Q(service__name__icontains=term))
    return list(qs.order_by("-occurred_at", "-id")[:FEED_LIMIT])


@login_required
def feed(request: HttpRequest) -> HttpResponse:
    """Every change in the last N minutes across every service: where a lost responder starts."""
    params = {k: request.GET.get(k, "") for k in ("kind", "source", "cluster", "namespace", "team", "q")}
    try:
        minutes = max(1, min(FEED_MAX_MINUTES, int(request.GET.get("minutes") or 60)))
    except ValueError:
        minutes = 60
    rows = feed_rows(params, minutes)
    since = timezone.now() - timedelta(minutes=minutes)
    alerts = (
        Alert.objects.select_related("service")
        .filter(Q(started_at__gte=since) | Q(status__in=explorer.OPEN))
        .order_by("-started_at")[:50]
    )
    context = {
        "changes": rows,
        "alerts": alerts,
        "params": params,
        "minutes": minutes,
        "limited": len(rows) >= FEED_LIMIT,
        "kinds": ChangeKind.values,
        "minute_choices": [15, 60, 240, 1440],
        "clusters": Cluster.objects.values_list("name", flat=True).order_by("name"),
        "teams": Service.objects.exclude(team="").values_list("team", flat=True).distinct().order_by("team"),
        "filtered": any(params.values()),
    }
    template = "web/_feed_rows.html" if request.headers.get("HX-Request") else "web/feed.html"
    return render(request, template, context)
