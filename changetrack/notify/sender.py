"""The one outbound sender: every push destination's message goes through ``send`` (called by the Celery task
``changetrack.notify.tasks.deliver``, which owns retries and ``Retry-After``).

Per notification (alert + destination): a row lock so two tasks never post the same alert twice; the content's
digest so an unchanged ranking sends nothing; the first post remembered (``ts``) so later ones edit it; a later
alert of the same incident goes into the first one's thread. Per destination channel: at most one message a
second, counted in Redis.
"""

from __future__ import annotations

import logging

import redis
from django.db import transaction
from django.utils import timezone

from changetrack.infra import redis as shared_redis
from changetrack.models import Notification
from changetrack.models.notify import Outbound, OutboundStatus
from changetrack.notify import content, transports

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 6
INTERVAL_MS = 1000  # Slack allows about one message a second per channel


def backoff(attempts: int) -> float:
    """Seconds before retry number ``attempts`` (2, 4, 8, ... at most 5 minutes)."""
    return float(min(300, 2**attempts))


class Throttled(Exception):
    """The channel had a message less than ``INTERVAL_MS`` ago: try again in ``wait`` seconds."""

    def __init__(self, wait: float):
        super().__init__(f"channel busy for {wait:.2f}s")
        self.wait = wait


def throttle(connection_id: object, channel: str) -> float:
    """0 when a message may go to this channel now (and the slot is taken), else seconds to wait. Redis down:
    0 (the destination's own 429 still slows us down)."""
    key = f"notify:rate:{connection_id}:{channel}"
    try:
        client = shared_redis.client()
        if client.set(key, b"1", nx=True, px=INTERVAL_MS):
            return 0.0
        left = client.pttl(key)
    except redis.RedisError:
        return 0.0
    return max(0.05, (left if isinstance(left, int) and left > 0 else INTERVAL_MS) / 1000)


def send(notification_id: int) -> str:
    """Send or edit the message of one notification if its content changed. Returns ``posted``, ``updated``,
    ``unchanged`` or ``gone``; raises ``Throttled``, or ``transports.SendError`` (nothing recorded: see
    ``record_failure``). An unchanged notice takes no slot of the channel's rate limit."""
    with transaction.atomic():
        n = (
            Notification.objects.select_for_update(of=("self",))
            .select_related("connection", "alert", "alert__service", "alert__service__cluster")
            .filter(pk=notification_id)
            .first()
        )
        if n is None or not n.connection.enabled:
            return "gone"
        notice = content.build(n.alert)
        digest = content.digest(notice)
        if n.status == Notification.Status.SENT and n.digest == digest:
            return "unchanged"
        wait = throttle(n.connection_id, n.channel)
        if wait:
            raise Throttled(wait)
        thread = n.thread_ts if n.ts else _thread_of(n)
        sent = transports.send(n.connection.integration, n, notice, n.connection.secret_store(), thread)
        outcome = "updated" if n.ts or n.sent_at else "posted"
        n.channel_id, n.ts, n.thread_ts = sent.channel_id, sent.ts, thread
        n.digest, n.version, n.status = digest, n.version + 1, Notification.Status.SENT
        n.attempts, n.last_error, n.sent_at = 0, "", timezone.now()
        n.save()
    logger.info("notify.message.sent", extra={"notification": notification_id, "outcome": outcome})
    return outcome


def _thread_of(n: Notification) -> str:
    """The ts of the first message of ``n``'s incident in the same channel, if there is one (not a reply)."""
    if n.alert.incident_id is None or n.connection.integration != "slack":
        return ""
    first = (
        Notification.objects.filter(
            connection_id=n.connection_id, channel=n.channel, alert__incident_id=n.alert.incident_id, thread_ts=""
        )
        .exclude(pk=n.pk)
        .exclude(ts="")
        .order_by("alert__started_at", "pk")
        .values_list("ts", flat=True)
        .first()
    )
    return first or ""


def record_failure(notification_id: int, error: transports.SendError) -> int:
    """Keep the error on the notification (the connection page shows the latest); returns the attempts so far."""
    return keep_failure(Notification, notification_id, error, "notify.message.failed", "notification")


def keep_failure(model: type[Outbound], pk: int, error: transports.SendError, event: str, what: str) -> int:
    """Keep ``error`` on one outbound row (a ``Notification`` or an ``Annotation``): one more attempt, the error
    and when; failed once retries are spent or a retry cannot help (a row already sent stays sent). Returns the
    attempts so far (``MAX_ATTEMPTS`` for a row that is gone). Logged as ``event`` with the row's id under ``what``."""
    row = model._default_manager.filter(pk=pk).first()
    if row is None:
        return MAX_ATTEMPTS
    row.attempts += 1
    row.last_error, row.last_error_at = str(error)[:2000], timezone.now()
    if not error.retry or row.attempts >= MAX_ATTEMPTS:
        row.status = OutboundStatus.FAILED if row.status != OutboundStatus.SENT else row.status
    row.save(update_fields=["attempts", "last_error", "last_error_at", "status", "updated_at"])
    logger.warning(
        event,
        extra={what: pk, "error": str(error), "attempts": row.attempts, "retry": error.retry},
    )
    return row.attempts
