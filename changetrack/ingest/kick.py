"""Debounced "there is work" signal from receivers to workers.

Receivers do not enqueue one task per delivery. The first delivery in a short window sets a Redis key and
schedules one drain task to run when the window closes; that task takes every pending delivery in batches.
Any delivery that arrives while the key is set is covered by the scheduled drain. If Redis is down the
delivery is already stored and the periodic sweep picks it up.

Each process also remembers how long the drain it last saw scheduled still lies ahead, and skips Redis
(``delivery_stored``) while a delivery stored now is certainly covered by it: at 500 deliveries/s the SET per
request was the receiver's largest cost after the INSERT (receiver benchmark).
"""

from __future__ import annotations

import logging
import time
from functools import lru_cache

import redis
from django.conf import settings

logger = logging.getLogger(__name__)
KEY = "changetrack:ingest:kick"

#: ``time.monotonic()`` until which a drain already scheduled (by any process) will run after a delivery stored now
_covered_until = 0.0


@lru_cache(maxsize=1)
def client() -> redis.Redis:
    return redis.Redis.from_url(settings.REDIS_URL, socket_timeout=0.5, socket_connect_timeout=0.5)


def delivery_stored() -> None:
    """The receiver's kick after it committed a pending delivery: free while a scheduled drain covers it."""
    if time.monotonic() < _covered_until:
        return
    request_drain()


def request_drain() -> bool:
    """Schedule a drain unless one is already scheduled; never raises. Returns True if it scheduled one."""
    from changetrack.ingest.tasks import drain_deliveries

    delay_ms = settings.INGEST_KICK_DELAY_MS
    asked_at = time.monotonic()
    try:
        pipe = client().pipeline(transaction=False)  # one round trip: claim the window, and learn how long it lasts
        pipe.set(KEY, 1, nx=True, px=delay_ms)
        pipe.pttl(KEY)
        scheduled_here, ttl_ms = pipe.execute()
        if scheduled_here:
            drain_deliveries.apply_async(countdown=delay_ms / 1000, retry=False)
        _note_covered(asked_at, ttl_ms, delay_ms)
        return bool(scheduled_here)
    except Exception as exc:  # noqa: BLE001 - any broker failure: the delivery is stored, the sweep takes over
        logger.warning("ingest.kick.failed", extra={"error": repr(exc)})
        try:
            client().delete(KEY)
        except redis.RedisError:
            pass
        return False


def _note_covered(asked_at: float, ttl_ms: int, delay_ms: int) -> None:
    """The drain runs when the key expires (same delay), ``ttl_ms`` after ``asked_at`` or later. Deliveries
    stored before then are in it; keep half the delay as margin for the worker's clock (Celery's ETA is a
    wall-clock time) and for the drain starting a little early."""
    global _covered_until
    if ttl_ms > delay_ms / 2:  # -2: the key just expired; -1 cannot happen (always set with PX)
        _covered_until = asked_at + (ttl_ms - delay_ms / 2) / 1000
