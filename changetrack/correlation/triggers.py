"""When to (re)rank: new or re-opened alerts, and changes that arrived after alerts they may have caused."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings

from changetrack.models import Alert

logger = logging.getLogger(__name__)


def on_stored(alert_ids: set[int], late_changes: list[tuple[int, Any]]) -> None:
    """Enqueue ranking for ``alert_ids`` and for alerts whose window covers a late change. Never raises:
    suspects are also computed on read when missing or stale."""
    ids = set(alert_ids)
    if late_changes:
        ids |= alerts_covering([at for _, at in late_changes])
    if not ids:
        return
    from changetrack.correlation.tasks import rank_alerts

    try:
        rank_alerts.apply_async(args=[sorted(ids)], retry=False)
    except Exception as exc:  # noqa: BLE001 - broker down: suspects are recomputed on read
        logger.warning("correlation.enqueue.failed", extra={"error": repr(exc), "alerts": len(ids)})


def alerts_covering(moments: list[datetime]) -> set[int]:
    """Alerts that started after one of ``moments`` and within the longest correlation window of it."""
    window = timedelta(minutes=settings.DEFAULT_CORRELATION_WINDOW_MINUTES)
    skew = timedelta(minutes=settings.CORRELATION_SKEW_MINUTES)
    lo, hi = min(moments) - skew, max(moments) + window
    return set(Alert.objects.filter(started_at__gte=lo, started_at__lte=hi).values_list("id", flat=True)[:5000])
