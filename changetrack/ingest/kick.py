"""Debounced "there is work" signal from receivers to workers.

Receivers do not enqueue one task per delivery. The first delivery in a short window sets a Redis key and
schedules one drain task to run when the window closes; that task takes every pending delivery in batches.
Any delivery that arrives while the key is set is covered by the scheduled drain. If Redis is down the
delivery is already stored and the periodic sweep picks it up.

The drain runs ``DRAIN_SLACK_MS`` after the key expires, so a delivery stored while the key is alive is in it
even if the worker's clock runs a little ahead (Celery's countdown becomes a wall-clock ETA). Each process
remembers when the key it last saw expires and skips Redis until then (``delivery_stored``): under a burst, a
SET on every request would be the receiver's largest cost after the INSERT (``bench/ingest.py`` measures it).
"""

from __future__ import annotations

import logging
import time

import redis
from django.conf import settings

from changetrack.celery import app
from changetrack.infra import redis as shared_redis

logger = logging.getLogger(__name__)
KEY = "changetrack:ingest:kick"
DRAIN_SLACK_MS = 50
#: Sent by name: the task module imports the receiver (its key cleanup), which imports this module, so importing
#: the task object here would close a cycle. ``changetrack.ingest.tasks`` registers the task under this name.
DRAIN_TASK = "changetrack.ingest.tasks.drain_deliveries"

#: ``time.monotonic()`` until which the kick key is alive: a drain is scheduled to run after a delivery stored now
_covered_until = 0.0


def delivery_stored() -> None:
    """The receiver's kick after it committed a pending delivery: free while a scheduled drain covers it."""
    if time.monotonic() < _covered_until:
        return
    request_drain()


def request_drain() -> bool:
    """Schedule a drain unless one is already scheduled; never raises. Returns True if it scheduled one."""
    global _covered_until
    delay_ms = settings.INGEST_KICK_DELAY_MS
    asked_at = time.monotonic()
    try:
        pipe = shared_redis.client().pipeline(
            transaction=False
        )  # one round trip: claim the window, and learn how long it lasts
        pipe.set(KEY, 1, nx=True, px=delay_ms)
        pipe.pttl(KEY)
        scheduled_here, ttl_ms = pipe.execute()
        if scheduled_here:
            app.send_task(DRAIN_TASK, countdown=(delay_ms + DRAIN_SLACK_MS) / 1000, retry=False)
        if ttl_ms > 0:  # -2: the key expired between the two commands; -1 cannot happen (always set with PX)
            _covered_until = asked_at + ttl_ms / 1000  # the key expires no sooner (PTTL is read after asked_at)
        return bool(scheduled_here)
    except Exception as exc:  # noqa: BLE001 - any broker failure: the delivery is stored, the sweep takes over
        logger.warning("ingest.kick.failed", extra={"error": repr(exc)})
        try:
            shared_redis.client().delete(KEY)
        except redis.RedisError:
            pass
        return False
