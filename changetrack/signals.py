"""Model signals: a new alias may map records that arrived unmapped; a verdict joins the verdict history."""

from __future__ import annotations

import logging
from typing import Any

from django.db import transaction
from django.db.models.signals import post_save
from django.dispatch import receiver

from changetrack.models import Feedback, ServiceAlias, VerdictEvent

logger = logging.getLogger(__name__)


@receiver(post_save, sender=ServiceAlias)
def remap_after_alias(sender: type, instance: ServiceAlias, **kwargs: Any) -> None:
    def enqueue() -> None:
        from changetrack.ingest.tasks import remap_unmapped

        try:
            remap_unmapped.apply_async(retry=False)
        except Exception as exc:  # noqa: BLE001 - broker down: the hourly run of the same task catches up
            logger.warning("resolution.remap.enqueue_failed", extra={"error": repr(exc)})

    transaction.on_commit(enqueue)


@receiver(post_save, sender=Feedback)
def remember_verdict(sender: type, instance: Feedback, raw: bool = False, **kwargs: Any) -> None:
    """Every verdict set, from any path (the page, the API, Slack, the admin), joins the verdict history; an undo
    is written by ``changetrack.web.verdicts.undo``, which removes the current verdict."""
    if raw:
        return
    VerdictEvent.objects.create(
        alert_id=instance.alert_id,
        change_id=instance.change_id,
        action=VerdictEvent.Action.SET,
        verdict=instance.verdict,
        actor=instance.author[:200],
    )
