"""The "what changed" feed: every change in the last N minutes across every service, newest first, a page at a
time ("Show older" continues after the last row shown, with the timeline's cursor and keyset)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from django.db.models import Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone

from changetrack.models import Alert, Change, ChangeKind, Cluster, Service
from changetrack.timeline import Cursor
from changetrack.web import access, events, explorer
from changetrack.web.links import url_pattern

PAGE_ROWS = 100
MAX_MINUTES = 7 * 24 * 60
COLUMNS = (
    "id",
    "occurred_at",
    "kind",
    "summary",
    "actor",
    "source",
    "service_id",
    "service__name",
    "service__cluster__name",
)


@dataclass
class FeedRow:
    """One change as the feed shows it (a plain row: no model instances, URLs formatted from one pattern)."""

    id: int
    occurred_at: datetime
    kind: str
    summary: str
    actor: str
    source: str
    service_id: int | None
    service_name: str
    cluster_name: str
    url: str = ""
    service_url: str = ""


def _filtered(params: dict[str, str], since: datetime) -> Q:
    cond = Q(occurred_at__gte=since)
    if params.get("kind") in ChangeKind.values:
        cond &= Q(kind=params["kind"])
    if params.get("source"):
        cond &= Q(source=params["source"][:50])
    if params.get("cluster"):
        cond &= Q(service__cluster__name=params["cluster"])
    if params.get("namespace"):
        cond &= Q(service__namespace=params["namespace"])
    if params.get("team"):
        cond &= Q(service__team=params["team"])
    if params.get("q"):
        term = params["q"].strip()[:200]
        cond &= Q(summary__icontains=term) | Q(actor__icontains=term) | Q(service__name__icontains=term)
    return cond


def feed_rows(
    params: dict[str, str], minutes: int, after: Cursor | None = None, size: int = PAGE_ROWS
) -> tuple[list[FeedRow], Cursor | None]:
    """A page of the changes of the last ``minutes`` matching ``params``, after ``after``; and the next cursor."""
    return change_page(_filtered(params, timezone.now() - timedelta(minutes=minutes)), after, size)


def change_page(cond: Q, after: Cursor | None = None, size: int = PAGE_ROWS) -> tuple[list[FeedRow], Cursor | None]:
    """A page of the changes matching ``cond``, newest first, after ``after``; and the next cursor."""
    if after is not None:
        cond &= after.older_q("change", "occurred_at")
    found = list(Change.objects.filter(cond).order_by("-occurred_at", "-id").values_list(*COLUMNS)[: size + 1])
    change_url, service_url = url_pattern("web:change"), url_pattern("web:service")
    rows = []
    for values in found[:size]:
        cid, at, kind, summary, actor, source, service_id, service_name, cluster_name = values
        row = FeedRow(cid, at, kind, summary, actor, source, service_id, service_name or "", cluster_name or "")
        row.url = change_url.format(row.id)
        row.service_url = service_url.format(row.service_id) if row.service_id else ""
        rows.append(row)
    more = Cursor(rows[-1].occurred_at, "change", rows[-1].id) if len(found) > size else None
    return rows, more


@access.viewer
def feed(request: HttpRequest) -> HttpResponse:
    """Every change in the last N minutes across every service: where a lost responder starts."""
    params = {k: request.GET.get(k, "") for k in ("kind", "source", "cluster", "namespace", "team", "q")}
    try:
        minutes = max(1, min(MAX_MINUTES, int(request.GET.get("minutes") or 60)))
    except ValueError:
        minutes = 60
    after = events.decode(request.GET.get("after"))
    rows, more = feed_rows(params, minutes, after)
    since = timezone.now() - timedelta(minutes=minutes)
    alert_url = url_pattern("web:alert")
    alerts: list[dict[str, Any]] = [
        dict(a)
        for a in Alert.objects.filter(Q(started_at__gte=since) | Q(status__in=explorer.OPEN))
        .order_by("-started_at")
        .values("id", "title", "status", "started_at", "service__name")[:50]
    ]
    for a in alerts:
        a["url"] = alert_url.format(a["id"])
    query = {"minutes": minutes, **{k: v for k, v in params.items() if v}}
    context = {
        "changes": rows,
        "alerts": alerts,
        "params": params,
        "minutes": minutes,
        "older_url": f"?{urlencode({**query, 'after': more.encode()})}" if more else "",
        "newest_url": f"?{urlencode(query)}" if after else "",
        "kinds": ChangeKind.values,
        "minute_choices": [15, 60, 240, 1440],
        "clusters": Cluster.objects.values_list("name", flat=True).order_by("name"),
        "teams": Service.objects.exclude(team="").values_list("team", flat=True).distinct().order_by("team"),
        "filtered": any(params.values()),
    }
    template = "web/_feed_rows.html" if request.headers.get("HX-Request") else "web/feed.html"
    return render(request, template, context)
