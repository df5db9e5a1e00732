"""Delivery metrics per service or team: deploy frequency, lead time, change failure rate, time to restore.

The figures are the correlation engine's (``changetrack.correlation.metrics``); this page only scopes, formats
and draws them, so the API and the page can never disagree."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone

from changetrack.correlation.metrics import delivery_metrics as compute
from changetrack.models import Service
from changetrack.web import access

DAY_CHOICES = (7, 30, 90)


def minutes(value: float | None) -> str:
    if value is None:
        return "—"
    if value >= 2 * 24 * 60:
        return f"{value / 1440:.1f} d"
    return f"{value / 60:.1f} h" if value >= 120 else f"{value:.0f} min"


def percent(rate: float | None) -> str:
    return "—" if rate is None else f"{100 * rate:.0f}%"


def kpis(summary: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(label, value, how it was counted) for the four keys of one summary row."""
    return [
        (
            "Deploy frequency",
            "—" if summary["deploy_frequency_per_day"] is None else f"{summary['deploy_frequency_per_day']:.1f} / day",
            f"{summary['deploys']} deploys",
        ),
        (
            "Lead time (median)",
            minutes(summary["lead_time_minutes_median"]),
            f"first commit → deploy, {summary['lead_time_samples']} releases with known commits",
        ),
        (
            "Change failure rate",
            percent(summary["change_failure_rate"]),
            f"{summary['failed_deploys']} deploys confirmed or ranked first as an alert's cause",
        ),
        (
            "Time to restore (median)",
            minutes(summary["time_to_restore_minutes_median"]),
            f"alert triggered → resolved, {summary['restored_alerts']} alerts",
        ),
    ]


def _table(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {
            **row,
            "frequency": "—" if row["deploy_frequency_per_day"] is None else f"{row['deploy_frequency_per_day']:.2f}",
            "lead": minutes(row["lead_time_minutes_median"]),
            "cfr": percent(row["change_failure_rate"]),
            "restore": minutes(row["time_to_restore_minutes_median"]),
        }
        for row in rows
    ]


def _bars(daily: list[dict[str, Any]]) -> list[tuple[date, int, int, int]]:
    peak = max([d["deploys"] for d in daily] + [1])
    if not any(d["deploys"] for d in daily):
        return []
    return [(date.fromisoformat(d["day"]), d["deploys"], d["failed"], round(100 * d["deploys"] / peak)) for d in daily]


@access.viewer
def delivery_metrics(request: HttpRequest) -> HttpResponse:
    team, service_param = request.GET.get("team", ""), request.GET.get("service", "")
    try:
        days = max(1, min(DAY_CHOICES[-1], int(request.GET.get("days") or 30)))
    except ValueError:
        days = 30
    until = timezone.now()
    since = until - timedelta(days=days)
    if service_param.isdigit():
        result = compute(since, until, service_ids=[int(service_param)])
    else:
        result = compute(since, until, team=team or None)
    return render(
        request,
        "web/delivery.html",
        {
            "kpis": kpis(result["total"]),
            "total": result["total"],
            "service_rows": _table(result["services"]),
            "team_rows": _table(result["teams"]),
            "bars": _bars(result["daily"]),
            "days": days,
            "day_choices": DAY_CHOICES,
            "team": team,
            "service_param": service_param,
            "teams": Service.objects.exclude(team="").values_list("team", flat=True).distinct().order_by("team"),
            "services": Service.objects.select_related("cluster").order_by("name")[:1000],
        },
    )
