"""The alerts list (open first, with each alert's top suspect and its incident) and the incident page.

A responder paged by several tools at once needs one place that says which alerts are open, which of them are
one incident, and which change is the first suspect of each, without opening every alert."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from django.db.models import Q, QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.utils import timezone

from changetrack.models import Alert, Change, Cluster, Incident, Service, Suspect
from changetrack.web import access
from changetrack.web.explorer import OPEN, narrowed

LIMIT = 200
STATUSES = ("open", "resolved", "all")
HOUR_CHOICES = (1, 6, 24, 72, 168)


@dataclass
class TopSuspect:
    change: Change
    score: float


@dataclass
class AlertRow:
    alert: Alert
    top: TopSuspect | None


def _filtered(params: dict[str, str], hours: int) -> QuerySet[Alert]:
    qs = Alert.objects.select_related("service", "service__cluster", "incident")
    since = timezone.now() - timedelta(hours=hours)
    status = params.get("status") or "open"
    if status == "open":  # an open alert stays listed however old it is: it still pages someone
        qs = qs.filter(status__in=OPEN)
    elif status == "resolved":
        qs = qs.filter(status=Alert.Status.RESOLVED, started_at__gte=since)
    else:
        qs = qs.filter(Q(started_at__gte=since) | Q(status__in=OPEN))
    if params.get("source"):
        qs = qs.filter(source=params["source"][:50])
    qs = narrowed(qs, params, {"cluster": "service__cluster__name", "team": "service__team"})
    if params.get("q"):
        term = params["q"].strip()[:200]
        qs = qs.filter(Q(title__icontains=term) | Q(service__name__icontains=term))
    return qs.order_by("-started_at", "-id")


def top_suspects(alert_ids: list[int]) -> dict[int, TopSuspect]:
    """Each alert's rank-1 stored suspect with its change, in two queries whatever the number of alerts."""
    firsts = list(Suspect.objects.filter(alert_id__in=alert_ids, rank=1).values_list("alert_id", "change_id", "score"))
    changes = Change.objects.select_related("service").only(
        "id", "kind", "summary", "occurred_at", "service__id", "service__name"
    )
    by_id = {c.pk: c for c in changes.filter(pk__in=[change_id for _, change_id, _ in firsts])}
    return {
        alert_id: TopSuspect(by_id[change_id], score) for alert_id, change_id, score in firsts if change_id in by_id
    }


def alert_rows(alerts: list[Alert]) -> list[AlertRow]:
    tops = top_suspects([a.pk for a in alerts])
    return [AlertRow(a, tops.get(a.pk)) for a in alerts]


def _hours(raw: str | None) -> int:
    try:
        return max(1, min(HOUR_CHOICES[-1], int(raw or 24)))
    except ValueError:
        return 24


@access.viewer
def alert_list(request: HttpRequest) -> HttpResponse:
    params = {k: request.GET.get(k, "") for k in ("status", "source", "cluster", "team", "q")}
    if params["status"] not in STATUSES:
        params["status"] = "open"
    hours = _hours(request.GET.get("hours"))
    alerts = list(_filtered(params, hours)[:LIMIT])
    context = {
        "rows": alert_rows(alerts),
        "params": params,
        "hours": hours,
        "hour_choices": HOUR_CHOICES,
        "statuses": STATUSES,
        "limited": len(alerts) >= LIMIT,
        "sources": Alert.objects.values_list("source", flat=True).distinct().order_by("source"),
        "clusters": Cluster.objects.values_list("name", flat=True).order_by("name"),
        "teams": Service.objects.exclude(team="").values_list("team", flat=True).distinct().order_by("team"),
        "filtered": any(v for k, v in params.items() if k != "status"),
    }
    template = "web/_alert_rows.html" if request.headers.get("HX-Request") else "web/alerts.html"
    return render(request, template, context)


@access.viewer
def incident_detail(request: HttpRequest, pk: int) -> HttpResponse:
    incident = get_object_or_404(Incident, pk=pk)
    alerts = list(incident.alerts.select_related("service", "service__cluster").order_by("started_at", "id"))
    top = (
        Change.objects.select_related("service", "service__cluster").filter(pk=incident.top_change_id).first()
        if incident.top_change_id is not None
        else None
    )
    services = sorted({a.service.name for a in alerts if a.service is not None})
    return render(
        request,
        "web/incident.html",
        {"incident": incident, "rows": alert_rows(alerts), "top": top, "services": services},
    )
