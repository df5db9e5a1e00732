"""Celery tasks of the ingest path. Thin: they call the pipeline and take no per-event arguments."""

from __future__ import annotations

from datetime import timedelta

from celery import shared_task
from django.utils import timezone

from changetrack import partitions, resolution
from changetrack.ingest import kick, pipeline, receiver
from changetrack.models import Delivery


@shared_task(name=kick.DRAIN_TASK, acks_late=True, reject_on_worker_lost=True)
def drain_deliveries() -> dict[str, int]:
    """Process every pending delivery in batches."""
    out = pipeline.drain()
    return {"claimed": out.claimed, "processed": out.processed, "failed": out.failed}


@shared_task
def sweep_deliveries() -> int:
    """Periodic safety net: deliveries stored while the broker was down, or left by a killed worker."""
    stale = timezone.now() - timedelta(seconds=5)
    if Delivery.objects.filter(status=Delivery.Status.PENDING, received_at__lt=stale).exists():
        return pipeline.drain().claimed
    return 0


@shared_task
def maintain_partitions() -> dict[str, dict[str, list[str]]]:
    return partitions.maintain()


@shared_task
def forget_delivery_keys() -> int:
    """Keep the receiver's dedupe keys to the dedupe window."""
    return receiver.forget_expired_keys()


@shared_task
def remap_unmapped() -> int:
    """Map records that arrived before a rule or service that now matches them."""
    return resolution.remap_unmapped()
