"""Minimal pages: the service list, a service's changes and alerts, an alert with its suspects."""

from __future__ import annotations

from datetime import timedelta

from django.contrib.auth.decorators import login_required
from django.db.models import Count, Max, Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.utils import timezone

from changetrack.models import Alert, Change, Service, Suspect


@login_required
def service_list(request: HttpRequest) -> HttpResponse:
    since = timezone.now() - timedelta(hours=24)
    services = (
        Service.objects.select_related("cluster")
        .annotate(
            open_alerts=Count("alerts", filter=~Q(alerts__status=Alert.Status.RESOLVED), distinct=True),
            last_change=Max("changes__occurred_at"),
            changes_24h=Count("changes", filter=Q(changes__occurred_at__gte=since), distinct=True),
        )
        .order_by("cluster__name", "namespace", "name")
    )
    return render(request, "web/services.html", {"services": services})


@login_required
def service_detail(request: HttpRequest, pk: int) -> HttpResponse:
    service = get_object_or_404(Service.objects.select_related("cluster"), pk=pk)
    since = timezone.now() - timedelta(days=7)
    changes = Change.objects.filter(service=service, occurred_at__gte=since).order_by("-occurred_at")[:200]
    alerts = Alert.objects.filter(service=service).order_by("-started_at")[:50]
    return render(request, "web/service.html", {"service": service, "changes": changes, "alerts": alerts})


@login_required
def alert_detail(request: HttpRequest, pk: int) -> HttpResponse:
    alert = get_object_or_404(Alert.objects.select_related("service", "service__cluster"), pk=pk)
    suspects = list(Suspect.objects.filter(alert=alert).order_by("rank"))
    changes = {c.pk: c for c in Change.objects.select_related("service").filter(pk__in=[s.change_id for s in suspects])}
    rows = [(s, changes.get(s.change_id)) for s in suspects]
    return render(request, "web/alert.html", {"alert": alert, "rows": rows})


@login_required
def change_detail(request: HttpRequest, pk: int) -> HttpResponse:
    change = get_object_or_404(Change.objects.select_related("service"), pk=pk)
    siblings = []
    if change.release_key:
        siblings = list(
            Change.objects.filter(release_key=change.release_key).exclude(pk=change.pk).select_related("service")[:20]
        )
    return render(request, "web/change.html", {"change": change, "siblings": siblings})
