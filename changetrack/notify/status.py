"""What the connection page shows of a push destination: messages (or annotations) sent, failures, the last error,
its rules."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db.models import Count, Max, Q, QuerySet

from changetrack.models import Connection, Notification, RoutingRule


@dataclass(frozen=True)
class PushStatus:
    sent: int
    failed: int
    last_sent_at: datetime | None
    last_error: str
    last_error_at: datetime | None
    rules: list[RoutingRule]
    #: the rows are Grafana annotations of changes, not alert messages (no routing rules)
    annotations: bool = False


def for_connection(conn: Connection) -> PushStatus:
    return summarize(
        Notification.objects.filter(connection=conn),
        rules=list(RoutingRule.objects.filter(connection=conn).select_related("service")),
    )


def summarize(rows: QuerySet[Any], rules: list[RoutingRule], annotations: bool = False) -> PushStatus:
    """Counts, last success and last error of one connection's outbound rows (notifications, annotations)."""
    counts = rows.aggregate(
        sent=Count("id", filter=Q(status="sent")),
        failed=Count("id", filter=Q(status="failed")),
        last=Max("sent_at"),
    )
    latest = (
        rows.filter(last_error_at__isnull=False)
        .order_by("-last_error_at")
        .values_list("last_error", "last_error_at")
        .first()
    )
    return PushStatus(
        sent=counts["sent"],
        failed=counts["failed"],
        last_sent_at=counts["last"],
        last_error=latest[0] if latest else "",
        last_error_at=latest[1] if latest else None,
        rules=rules,
        annotations=annotations,
    )
