"""Delivery metrics per service or team: deploy frequency, lead time, change failure rate, time to restore.

The figures belong to the correlation engine (``changetrack.correlation.metrics``, written in parallel). This
page reads them through one boundary, ``compute(service_ids, since, until)``: if that module offers
``delivery_metrics(service_ids=..., since=..., until=...)`` returning a mapping, its figures are shown; if it
is absent or answers in a shape we do not know, the page computes a plain estimate itself from confirmed
feedback and says so.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, is_dataclass
from datetime import date, datetime, timedelta
from statistics import median
from typing import Any

from django.contrib.auth.decorators import login_required
from django.db.models import Count
from django.db.models.functions import TruncDate
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone

from changetrack.models import Alert, Change, Feedback, Service

logger = logging.getLogger(__name__)
DEPLOY_KINDS = ("deploy", "rollback")


@dataclass
class Metrics:
    provider: str  # "correlation" or "estimate"
    figures: list[tuple[str, str]] = field(default_factory=list)
    daily: list[tuple[date, int, int]] = field(default_factory=list)  # (day, deploys, failed deploys)


def _fmt_minutes(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value / 60:.1f} h" if value >= 120 else f"{value:.0f} min"


def _daily(
    service_ids: list[int], since: datetime, until: datetime, failed_ids: set[int]
) -> list[tuple[date, int, int]]:
    rows = (
        Change.objects.filter(
            service_id__in=service_ids, kind__in=DEPLOY_KINDS, occurred_at__gte=since, occurred_at__lt=until
        )
        .annotate(day=TruncDate("occurred_at"))
        .values("day")
        .annotate(n=Count("id"))
        .order_by("day")
    )
    counts = {r["day"]: r["n"] for r in rows}
    failed_days: dict[date, int] = {}
    for at in Change.objects.filter(pk__in=failed_ids, occurred_at__gte=since).values_list("occurred_at", flat=True):
        failed_days[at.date()] = failed_days.get(at.date(), 0) + 1
    days = (until.date() - since.date()).days + 1
    return [(d, counts.get(d, 0), failed_days.get(d, 0)) for d in (since.date() + timedelta(n) for n in range(days))]


def estimate(service_ids: list[int], since: datetime, until: datetime) -> Metrics:
    """The page's own estimate: deploys from the change table, failures and restores from "caused" feedback,
    lead time from the first commit sharing the deploy's release key."""
    deploys = list(
        Change.objects.filter(
            service_id__in=service_ids, kind__in=DEPLOY_KINDS, occurred_at__gte=since, occurred_at__lt=until
        ).values("id", "occurred_at", "release_key")[:20000]
    )
    caused = list(
        Feedback.objects.filter(verdict=Feedback.Verdict.CAUSED, change_id__in=[d["id"] for d in deploys]).values_list(
            "change_id", "alert_id"
        )
    )
    failed = {cid for cid, _ in caused}
    restores = [
        (resolved - started).total_seconds() / 60
        for started, resolved in Alert.objects.filter(
            pk__in={aid for _, aid in caused}, resolved_at__isnull=False
        ).values_list("started_at", "resolved_at")
        if resolved is not None  # the filter says so; the type checker cannot know
    ]
    keys = {d["release_key"] for d in deploys if d["release_key"]}
    first_commit: dict[str, datetime] = {}
    for key, at in (
        Change.objects.filter(release_key__in=keys, kind="commit").values_list("release_key", "occurred_at")
        if keys
        else []
    ):
        first_commit[key] = min(at, first_commit.get(key, at))
    leads = [
        (d["occurred_at"] - first_commit[d["release_key"]]).total_seconds() / 60
        for d in deploys
        if d["release_key"] in first_commit
    ]
    days = max((until - since).days, 1)
    figures = [
        ("Deploys", str(len(deploys))),
        ("Deploy frequency", f"{len(deploys) / days:.1f} per day"),
        ("Lead time (median, commit → deploy)", _fmt_minutes(median(leads) if leads else None)),
        (
            "Change failure rate",
            f"{100 * len(failed) / len(deploys):.0f}% ({len(failed)} confirmed)" if deploys else "—",
        ),
        ("Time to restore (median)", _fmt_minutes(median(restores) if restores else None)),
    ]
    return Metrics("estimate", figures, _daily(service_ids, since, until, failed))


def _from_correlation(result: Any) -> list[tuple[str, str]] | None:
    if is_dataclass(result) and not isinstance(result, type):
        result = asdict(result)
    if not isinstance(result, Mapping):
        return None
    return [
        (str(k).replace("_", " ").capitalize(), str(v))
        for k, v in result.items()
        if isinstance(v, (int, float, str)) and not isinstance(v, bool)
    ]


def compute(service_ids: list[int], since: datetime, until: datetime) -> Metrics:
    """The one boundary with the correlation engine's metrics (see the module docstring)."""
    try:
        module = importlib.import_module("changetrack.correlation.metrics")
    except ImportError:
        module = None
    provider = getattr(module, "delivery_metrics", None)
    if callable(provider):
        try:
            figures = _from_correlation(provider(service_ids=service_ids, since=since, until=until))
        except TypeError as exc:  # a different signature than agreed: fall back, say so in the log
            logger.warning("web.metrics.incompatible", extra={"error": str(exc)})
            figures = None
        if figures:
            base = estimate(service_ids, since, until)
            return Metrics("correlation", figures, base.daily)
    return estimate(service_ids, since, until)


@login_required
def delivery_metrics(request: HttpRequest) -> HttpResponse:
    team, service_param = request.GET.get("team", ""), request.GET.get("service", "")
    try:
        days = max(1, min(90, int(request.GET.get("days") or 30)))
    except ValueError:
        days = 30
    services = Service.objects.select_related("cluster")
    if service_param.isdigit():
        services = services.filter(pk=int(service_param))
    elif team:
        services = services.filter(team=team)
    ids = list(services.values_list("id", flat=True)[:5000])
    until = timezone.now()
    since = until - timedelta(days=days)
    metrics = compute(ids, since, until)
    peak = max([d[1] for d in metrics.daily] + [1])
    return render(
        request,
        "web/delivery.html",
        {
            "metrics": metrics,
            "peak": peak,
            "days": days,
            "team": team,
            "service_param": service_param,
            "teams": Service.objects.exclude(team="").values_list("team", flat=True).distinct().order_by("team"),
            "services": Service.objects.select_related("cluster").order_by("name")[:1000],
            "scope_count": len(ids),
            "bars": [(d, n, f, round(100 * n / peak)) for d, n, f in metrics.daily]
            if any(n for _, n, _ in metrics.daily)
            else [],
        },
    )
