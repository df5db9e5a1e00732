"""Debounced "there is work" signal from receivers to workers.

Receivers do not enqueue one task per delivery. The first delivery in a short window sets a Redis key and
schedules one drain task to run when the window closes; that task takes every pending delivery in batches.
Any delivery that arrives while the key is set is covered by the scheduled drain. If Redis is down the
delivery is already stored and the periodic sweep picks it up.
"""

from __future__ import annotations

import logging
from functools import lru_cache

import redis
from django.conf import settings

logger = logging.getLogger(__name__)
KEY = "changetrack:ingest:kick"


@lru_cache(maxsize=1)
def client() -> redis.Redis:
    return redis.Redis.from_url(settings.REDIS_URL, socket_timeout=0.5, socket_connect_timeout=0.5)


def request_drain() -> bool:
    """Schedule a drain unless one is already scheduled; never raises. Returns True if it scheduled one."""
    from changetrack.ingest.tasks import drain_deliveries

    delay_ms = settings.INGEST_KICK_DELAY_MS
    try:
        if not client().set(KEY, 1, nx=True, px=delay_ms):
            return False
        drain_deliveries.apply_async(countdown=delay_ms / 1000, retry=False)
        return True
    except Exception as exc:  # noqa: BLE001 - any broker failure: the delivery is stored, the sweep takes over
        logger.warning("ingest.kick.failed", extra={"error": repr(exc)})
        try:
            client().delete(KEY)
        except redis.RedisError:
            pass
        return False
