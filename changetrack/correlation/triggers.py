"""When to (re)rank: new or re-opened alerts, and changes that arrived after alerts they may have caused."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings

from changetrack.correlation import graph
from changetrack.models import Alert, Change, Service

logger = logging.getLogger(__name__)

MAX_ALERTS = 5000


def on_stored(alert_ids: set[int], late_changes: list[tuple[int, Any]]) -> None:
    """Enqueue ranking for ``alert_ids`` and for alerts whose window covers a late change. Never raises:
    suspects are also computed on read when missing or stale."""
    ids = set(alert_ids)
    if late_changes:
        ids |= alerts_covering([at for _, at in late_changes], [cid for cid, _ in late_changes])
    if not ids:
        return
    from changetrack.correlation.tasks import rank_alerts

    try:
        rank_alerts.apply_async(args=[sorted(ids)], retry=False)
    except Exception as exc:  # noqa: BLE001 - broker down: suspects are recomputed on read
        logger.warning("correlation.enqueue.failed", extra={"error": repr(exc), "alerts": len(ids)})


def longest_window_minutes() -> int:
    """The default window or the longest one any service configures (overall or per kind)."""
    longest = settings.DEFAULT_CORRELATION_WINDOW_MINUTES
    for s in Service.objects.exclude(settings={}).values_list("settings", flat=True):
        if not isinstance(s, dict):
            continue
        values: list[Any] = [s.get("correlation_window_minutes")]
        kinds = s.get("correlation_window_by_kind")
        if isinstance(kinds, dict):
            values += list(kinds.values())
        for v in values:
            try:
                longest = max(longest, int(v))
            except (TypeError, ValueError):
                continue
    return longest


def alerts_covering(moments: list[datetime], change_ids: list[int] | None = None) -> set[int]:
    """Alerts that started after one of ``moments`` and within the longest correlation window of it; with
    ``change_ids``, only alerts on services within 3 hops of the changed services."""
    window = timedelta(minutes=longest_window_minutes())
    skew = timedelta(minutes=settings.CORRELATION_SKEW_MINUTES)
    lo, hi = _shift(min(moments), -skew), _shift(max(moments), window)
    alerts = Alert.objects.filter(started_at__gte=lo, started_at__lte=hi)
    if change_ids:
        if not alerts.exists():  # no alert to re-rank: spare the graph walk from every changed service
            return set()
        changed = set(
            Change.objects.filter(pk__in=change_ids, occurred_at__gte=_shift(lo, -window), occurred_at__lte=hi)
            .filter(service_id__isnull=False)
            .values_list("service_id", flat=True)
        )
        related: set[int] = set()
        for sid in changed:
            related |= set(graph.neighbourhood(sid))
        alerts = alerts.filter(service_id__in=sorted(related))
    return set(alerts.values_list("id", flat=True)[:MAX_ALERTS])


def _shift(moment: datetime, delta: timedelta) -> datetime:
    """``moment + delta``, clamped to the representable range (a change dated year 1 or 9999 is legal input)."""
    try:
        return moment + delta
    except OverflowError:
        bound = datetime.min if delta < timedelta(0) else datetime.max
        return bound.replace(tzinfo=moment.tzinfo)
