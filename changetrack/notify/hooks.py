"""Where notices start: after an alert's suspects are stored (a first ranking, a late change, feedback, a new
edge) and when an alert resolves. Receivers only enqueue ``announce`` after the commit; a broker outage is
logged and never reaches ingestion or ranking."""

from __future__ import annotations

import logging
import time
from typing import Any

from django.db import DatabaseError, transaction
from django.db.models.signals import post_save
from django.dispatch import receiver

from changetrack.correlation import events
from changetrack.ingest import events as ingest_events
from changetrack.models import Alert, Connection
from changetrack.notify import markers, routing

logger = logging.getLogger(__name__)

CACHE_SECONDS = 5.0
_cache: dict[str, tuple[float, bool]] = {}


def have_destinations() -> bool:
    """Whether any push connection is enabled (cached a few seconds: asked on every ranking)."""
    now = time.monotonic()
    hit = _cache.get("any")
    if hit and hit[0] > now:
        return hit[1]
    found = Connection.objects.filter(integration__in=routing.push_slugs(), enabled=True).exists()
    _cache["any"] = (now + CACHE_SECONDS, found)
    return found


@receiver(post_save, sender=Connection)
def _forget(sender: type[Connection], **kwargs: Any) -> None:
    _cache.clear()
    markers.forget()


def _enqueue_after_commit(alert_id: int) -> None:
    def enqueue() -> None:
        from changetrack.notify.tasks import announce

        try:
            announce.apply_async(args=[alert_id], retry=False)
        except Exception as exc:  # noqa: BLE001 - broker down: the next ranking or resolution enqueues again
            logger.warning("notify.enqueue.failed", extra={"alert": alert_id, "error": repr(exc)})

    transaction.on_commit(enqueue)


@receiver(events.suspects_stored)
def after_ranking(sender: Any, alert_id: int, **kwargs: Any) -> None:
    if have_destinations():
        _enqueue_after_commit(alert_id)


@receiver(post_save, sender=Alert)
def after_alert_saved(sender: type[Alert], instance: Alert, created: bool, **kwargs: Any) -> None:
    if not created and instance.status == Alert.Status.RESOLVED and have_destinations():
        _enqueue_after_commit(instance.pk)


@receiver(ingest_events.changes_stored)
def after_changes_stored(sender: Any, change_ids: list[int], **kwargs: Any) -> None:
    """Write the Grafana annotation rows of stored changes in the storing transaction (``markers.plan``) and
    enqueue their sending after the commit, when any connection annotates. A database error here is logged and
    undone (a savepoint); the changes are stored regardless."""
    if not markers.connections():
        return
    try:
        with transaction.atomic():  # a savepoint: a failure here must not break the storing transaction
            ids = markers.plan(list(change_ids))
    except DatabaseError as exc:
        logger.warning("notify.annotate.plan_failed", extra={"changes": len(change_ids), "error": repr(exc)})
        return
    if not ids:
        return

    def enqueue() -> None:
        from changetrack.notify.tasks import annotate

        try:
            annotate.apply_async(args=[ids], retry=False)
        except Exception as exc:  # noqa: BLE001 - broker down: the rows are stored; tasks.sweep sends them
            logger.warning("notify.annotate.enqueue_failed", extra={"annotations": len(ids), "error": repr(exc)})

    transaction.on_commit(enqueue)
