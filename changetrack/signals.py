"""Model signals: a new alias may map records that arrived unmapped."""

from __future__ import annotations

import logging
from typing import Any

from django.db import transaction
from django.db.models.signals import post_save
from django.dispatch import receiver

from changetrack.models import ServiceAlias

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
