"""Celery tasks of the ingest path. Thin: they call the pipeline and take no per-event arguments."""

from __future__ import annotations

import logging
import time
from datetime import timedelta

import requests
from celery import shared_task
from celery.worker import state
from django.conf import settings
from django.utils import timezone

from changetrack import partitions, resolution
from changetrack.ingest import dependencies, kick, pipeline, receiver, sns
from changetrack.models import Delivery

logger = logging.getLogger(__name__)


def _worker_stopping() -> bool:
    """The worker got SIGTERM (warm shutdown) or SIGQUIT: seen by tasks running in its main process (solo and
    threads pools). A prefork child is not told; the time budget of ``_drain`` bounds it instead."""
    # identity, as celery.worker.state.maybe_shutdown compares: a warm shutdown sets should_stop to EX_OK, 0
    return any(flag is not None and flag is not False for flag in (state.should_stop, state.should_terminate))


def _drain() -> pipeline.BatchOutcome:
    """A drain that an orchestrator can stop: it returns between batches when the worker is shutting down or
    after ``INGEST_DRAIN_SECONDS`` (so a warm shutdown ends within a grace period), leaving the rest pending and
    asking for another drain, which this worker after a restart, another worker or the sweep will run."""
    deadline = time.monotonic() + settings.INGEST_DRAIN_SECONDS
    out = pipeline.drain(stop=lambda: _worker_stopping() or time.monotonic() > deadline)
    if out.stopped:
        logger.info("ingest.drain.stopped", extra={"claimed": out.claimed, "shutdown": _worker_stopping()})
        kick.request_drain()
    return out


@shared_task(name=kick.DRAIN_TASK, acks_late=True, reject_on_worker_lost=True)
def drain_deliveries() -> dict[str, int]:
    """Process every pending delivery in batches."""
    out = _drain()
    return {"claimed": out.claimed, "processed": out.processed, "failed": out.failed}


@shared_task
def sweep_deliveries() -> int:
    """Periodic safety net: deliveries stored while the broker was down, or left by a killed worker."""
    stale = timezone.now() - timedelta(seconds=5)
    if Delivery.objects.filter(status=Delivery.Status.PENDING, received_at__lt=stale).exists():
        return _drain().claimed
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
    """Map records (and trace edges) that arrived before a rule or service that now matches them."""
    return resolution.remap_unmapped() + dependencies.remap_edges()


@shared_task
def expire_trace_edges() -> int:
    """Beat entry ``expire-trace-edges``: drop trace edges no source reported for ``TRACE_EDGE_EXPIRY_DAYS``."""
    return dependencies.expire_trace_edges()


@shared_task(name=sns.CONFIRM_TASK, autoretry_for=(requests.RequestException,), retry_backoff=True, max_retries=5)
def confirm_sns_subscription(subscribe_url: str) -> int:
    """GET a verified SNS ``SubscribeURL`` (``changetrack.ingest.sns``); retried while SNS cannot be reached."""
    return sns.confirm(subscribe_url)
