"""What the pollers' Celery tasks share: JSON watermarks in ``Watermark`` rows and a guard against overlapping runs."""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import redis

from changetrack.infra import redis as shared_redis
from changetrack.models import Watermark

logger = logging.getLogger(__name__)


def load_state(key: str) -> dict[str, Any]:
    """The JSON object stored under ``key`` ({} if none or unreadable)."""
    row = Watermark.objects.filter(key=key).first()
    try:
        value = json.loads(row.value) if row and row.value else {}
    except ValueError:
        value = {}
    return value if isinstance(value, dict) else {}


def save_state(key: str, value: dict[str, Any]) -> None:
    Watermark.objects.update_or_create(key=key, defaults={"value": json.dumps(value)})


@contextmanager
def single_run(name: str, ttl_seconds: int = 900) -> Iterator[bool]:
    """Yield True if this worker may run ``name`` now. A poll slower than its beat interval must not start
    twice; the TTL frees the lock if a worker dies. Without Redis, runs are allowed: polling is idempotent."""
    key, token = f"changetrack:poll:{name}", uuid.uuid4().hex
    try:
        acquired = bool(shared_redis.client().set(key, token, nx=True, ex=ttl_seconds))
    except redis.RedisError as exc:
        logger.warning("poll.lock.unavailable", extra={"poll": name, "error": repr(exc)})
        acquired, key = True, ""
    try:
        yield acquired
    finally:
        if acquired and key:
            try:
                if shared_redis.client().get(key) == token.encode():
                    shared_redis.client().delete(key)
            except redis.RedisError:
                pass  # the TTL releases it
