"""Celery tasks of push destinations: ids in. ``announce`` routes an alert and enqueues one ``deliver`` per
destination; ``deliver`` is the outbound sender's task (throttle, send, retries); ``process_interaction`` turns a
stored Slack click into a verdict."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from celery import shared_task
from django.db.models import Max
from django.utils import timezone

from changetrack.correlation import engine
from changetrack.models import Alert, Annotation, Feedback, Interaction, Notification
from changetrack.models.notify import OutboundStatus
from changetrack.notify import markers, routing, sender, verdicts
from changetrack.notify.transports import SendError

logger = logging.getLogger(__name__)

#: an alert older than this is not announced any more (a re-ranking on read of last week's alert posts nothing);
#: one already announced keeps being edited
ANNOUNCE_WITHIN = timedelta(hours=24)


@shared_task(acks_late=True)
def announce(alert_id: int) -> int:
    """Create the notifications ``alert_id``'s routes call for and enqueue every one of its notifications (the
    sender sends only what changed). Returns how many were enqueued."""
    alert = Alert.objects.select_related("service", "service__cluster").filter(pk=alert_id).first()
    if alert is None:
        return 0
    fresh = alert.status != Alert.Status.RESOLVED and alert.started_at >= timezone.now() - ANNOUNCE_WITHIN
    if fresh:
        for route in routing.routes(alert):
            Notification.objects.get_or_create(alert=alert, connection=route.connection, channel=route.channel)
    ids = list(Notification.objects.filter(alert=alert).values_list("pk", flat=True))
    for notification_id in ids:
        deliver.apply_async(args=[notification_id])
    return len(ids)


@shared_task(bind=True, acks_late=True, max_retries=None)
def deliver(self: Any, notification_id: int) -> str:
    """Send one notification's message at most once a second per channel; retry what a retry may cure (after
    ``Retry-After`` on a 429, else with backoff) up to ``sender.MAX_ATTEMPTS``, then keep it failed with its error."""
    try:
        return sender.send(notification_id)
    except sender.Throttled as exc:
        raise self.retry(countdown=exc.wait) from None
    except SendError as exc:
        return _retry_or_fail(self, exc, sender.record_failure(notification_id, exc))


def _retry_or_fail(task: Any, exc: SendError, attempts: int) -> str:
    """Retry ``task`` when a retry may cure ``exc`` and attempts remain (after ``Retry-After``, else with backoff);
    otherwise ``"failed"`` (the error is already kept on the row)."""
    if exc.retry and attempts < sender.MAX_ATTEMPTS:
        raise task.retry(countdown=exc.after or sender.backoff(attempts)) from None
    return "failed"


@shared_task(acks_late=True)
def annotate(annotation_ids: list[int]) -> int:
    """Fan the annotations of a stored batch of changes (``markers.plan``) out to one ``push_annotation`` each,
    off the storing process. Returns how many were enqueued."""
    for annotation_id in annotation_ids:
        push_annotation.apply_async(args=[annotation_id])
    return len(annotation_ids)


@shared_task(bind=True, acks_late=True, max_retries=None)
def push_annotation(self: Any, annotation_id: int) -> str:
    """Create or edit one change's Grafana annotation; retry what a retry may cure (after ``Retry-After`` on a
    429, else with the sender's backoff) up to ``sender.MAX_ATTEMPTS``, then keep it failed with its error."""
    try:
        return markers.send(annotation_id)
    except SendError as exc:
        return _retry_or_fail(
            self, exc, sender.keep_failure(Annotation, annotation_id, exc, "notify.annotation.failed", "annotation")
        )


@shared_task(acks_late=True)
def process_interaction(interaction_id: int) -> str:
    """Record the verdict of one stored Slack click (``verdicts.apply``)."""
    return verdicts.apply(interaction_id)


#: announced alerts looked at per ``refresh`` run (the newest first)
REFRESH_LIMIT = 200


@shared_task(acks_late=True)
def refresh() -> int:
    """Beat entry ``refresh-notices``: re-rank announced, open alerts whose ranking may have moved without a
    trigger reaching them (a new dependency edge, a change stored since, a verdict on a similar alert), so their
    messages follow; an unchanged ranking edits nothing. Returns how many were re-ranked."""
    now = timezone.now()
    alerts = list(
        Alert.objects.filter(
            notifications__isnull=False, resolved_at__isnull=True, started_at__gte=now - ANNOUNCE_WITHIN
        )
        .distinct()
        .order_by("-started_at")[:REFRESH_LIMIT]
    )
    last_verdict = Feedback.objects.aggregate(at=Max("created_at"))["at"]
    ranked = 0
    for alert in alerts:
        computed = alert.suspects_computed_at
        taught = last_verdict is not None and computed is not None and last_verdict > computed
        if computed is None or taught or engine.is_stale(alert):
            engine.rank_and_store(alert.pk)
            ranked += 1
    return ranked


@shared_task(acks_late=True)
def sweep() -> int:
    """Beat entry ``sweep-notify``: clicks, first messages and annotations whose task never ran (the broker was
    down when they were stored). Returns how many tasks it enqueued."""
    now = timezone.now()
    clicks = list(
        Interaction.objects.filter(
            status=Interaction.Status.PENDING, received_at__lte=now - timedelta(seconds=30)
        ).values_list("pk", flat=True)[:500]
    )
    for interaction_id in clicks:
        process_interaction.apply_async(args=[interaction_id])
    unsent = 0
    for model, task in ((Notification, deliver), (Annotation, push_annotation)):
        never_tried = model.objects.filter(
            status=OutboundStatus.PENDING,
            attempts=0,
            created_at__lte=now - timedelta(minutes=1),
            created_at__gte=now - ANNOUNCE_WITHIN,
        ).values_list("pk", flat=True)[:500]
        for pk in list(never_tried):
            task.apply_async(args=[pk])
            unsent += 1
    return len(clicks) + unsent
