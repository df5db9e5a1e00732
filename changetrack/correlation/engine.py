"""Ranking suspects for an alert (first version: time proximity and graph distance only).

The full scoring (risk, magnitude, direction, feedback, learned edges) is the correlation issue's work; the
shape of the output (rank, score, hops, path, components, reasons) is final.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from changetrack.models import Alert, Change, Dependency, Suspect


@dataclass
class Ranked:
    change: Change
    score: float
    hops: int
    path: list[str]
    components: dict[str, float] = field(default_factory=dict)
    reasons: list[str] = field(default_factory=list)


def neighbourhood(service_id: int, depth: int = 3) -> dict[int, tuple[int, list[int]]]:
    """Services within ``depth`` hops in either direction: id → (hops, path of ids from the alerting one)."""
    seen: dict[int, tuple[int, list[int]]] = {service_id: (0, [service_id])}
    frontier = [service_id]
    for hop in range(1, depth + 1):
        if not frontier:
            break
        edges = Dependency.objects.filter(service_id__in=frontier).values_list("service_id", "depends_on_id")
        back = Dependency.objects.filter(depends_on_id__in=frontier).values_list("depends_on_id", "service_id")
        nxt = []
        for src, dst in [*edges, *back]:
            if dst not in seen:
                seen[dst] = (hop, [*seen[src][1], dst])
                nxt.append(dst)
        frontier = nxt
    return seen


def rank(alert: Alert, limit: int = 10) -> list[Ranked]:
    if alert.service_id is None:
        return []
    hood = neighbourhood(alert.service_id)
    window = timedelta(
        minutes=int(
            alert.service.settings.get("correlation_window_minutes", settings.DEFAULT_CORRELATION_WINDOW_MINUTES)
        )
    )
    skew = timedelta(minutes=settings.CORRELATION_SKEW_MINUTES)
    changes = Change.objects.select_related("service").filter(
        service_id__in=list(hood),
        occurred_at__gte=alert.started_at - window,
        occurred_at__lte=alert.started_at + skew,
    )
    names = {sid: n for sid, n in alert.service.__class__.objects.filter(pk__in=list(hood)).values_list("id", "name")}
    out = []
    for change in changes:
        hops, path = hood[change.service_id]
        minutes = max((alert.started_at - change.occurred_at).total_seconds() / 60, 0.0)
        time_score = math.exp(-minutes / 240)
        graph_score = 1.0 / (1 + hops)
        score = round(0.6 * time_score + 0.4 * graph_score, 4)
        out.append(
            Ranked(
                change,
                score,
                hops,
                [names.get(i, str(i)) for i in path],
                {"time": round(time_score, 3), "graph": round(graph_score, 3)},
                [f"{change.kind} {int(minutes)} min before the alert"],
            )
        )
    out.sort(key=lambda r: (-r.score, -r.change.occurred_at.timestamp()))
    return out[:limit]


def rank_and_store(alert_id: int, limit: int = 20) -> list[Ranked]:
    alert = Alert.objects.select_related("service").filter(pk=alert_id).first()
    if alert is None:
        return []
    ranked = rank(alert, limit)
    with transaction.atomic():
        Suspect.objects.filter(alert=alert).delete()
        Suspect.objects.bulk_create(
            [
                Suspect(
                    alert=alert,
                    change_id=r.change.pk,
                    rank=i,
                    score=r.score,
                    hops=r.hops,
                    path=r.path,
                    components=r.components,
                    reasons=r.reasons,
                )
                for i, r in enumerate(ranked, start=1)
            ]
        )
        Alert.objects.filter(pk=alert.pk).update(suspects_computed_at=timezone.now())
    return ranked


def current_suspects(alert: Alert, limit: int = 10) -> list[Suspect]:
    """The stored suspects of ``alert``, recomputed first if any change in its window was stored or updated
    since they were computed (late arrivals). This is what the API and the pages read."""
    stale = alert.suspects_computed_at is None
    if not stale and alert.service_id is not None:
        hood = neighbourhood(alert.service_id)
        window = timedelta(
            minutes=int(
                alert.service.settings.get("correlation_window_minutes", settings.DEFAULT_CORRELATION_WINDOW_MINUTES)
            )
        )
        skew = timedelta(minutes=settings.CORRELATION_SKEW_MINUTES)
        stale = Change.objects.filter(
            service_id__in=list(hood),
            occurred_at__gte=alert.started_at - window,
            occurred_at__lte=alert.started_at + skew,
            updated_at__gt=alert.suspects_computed_at,
        ).exists()
    if stale:
        rank_and_store(alert.pk)
    return list(Suspect.objects.filter(alert=alert).order_by("rank")[:limit])
