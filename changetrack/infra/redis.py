"""The one Redis client of a process (kick signal, API rate limits, poll locks).

Short timeouts: every caller treats Redis as an accelerator with a fallback (the stored delivery, the sweep, an
unthrottled request), so a slow Redis must not hold a web request for long.
"""

from __future__ import annotations

from functools import lru_cache

import redis
from django.conf import settings


@lru_cache(maxsize=1)
def client() -> redis.Redis:
    """The process's shared client for ``settings.REDIS_URL`` (connection pooled, thread-safe)."""
    return redis.Redis.from_url(settings.REDIS_URL, socket_timeout=0.5, socket_connect_timeout=0.5)
