"""What the connection page shows of a push destination: messages sent, failures, the last error, its rules."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db.models import Count, Max, Q

from changetrack.models import Connection, Notification, RoutingRule


@dataclass(frozen=True)
class PushStatus:
    sent: int
    failed: int
    last_sent_at: datetime | None
    last_error: str
    last_error_at: datetime | None
    rules: list[RoutingRule]


def for_connection(conn: Connection) -> PushStatus:
    counts = Notification.objects.filter(connection=conn).aggregate(
        sent=Count("id", filter=Q(status=Notification.Status.SENT)),
        failed=Count("id", filter=Q(status=Notification.Status.FAILED)),
        last=Max("sent_at"),
    )
    latest = (
        Notification.objects.filter(connection=conn, last_error_at__isnull=False)
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
        rules=list(RoutingRule.objects.filter(connection=conn).select_related("service")),
    )
