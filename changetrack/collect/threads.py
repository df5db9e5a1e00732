"""Thread plumbing of the collector: shared counters, reconnect backoff, and closing a thread's DB connection."""

from __future__ import annotations

import random
import threading
from collections.abc import Callable


class Stats:
    """Counters the collector's threads bump concurrently (read by tests, the bench and the logs)."""

    NAMES = (
        "events",
        "bookmarks",
        "unchanged",
        "relists",
        "expired",
        "reconnects",
        "batches",
        "checkpoint_batches",
        "sent",
    )

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self._counts = dict.fromkeys(self.NAMES, 0)

    def add(self, name: str, n: int = 1) -> None:
        with self.lock:
            self._counts[name] += n

    def __getattr__(self, name: str) -> int:
        counts = self.__dict__.get("_counts", {})
        if name not in counts:
            raise AttributeError(name)
        return int(counts[name])


class Backoff:
    """Exponential delays with jitter, from ``first`` up to ``cap`` (reconnects, broker retries)."""

    def __init__(self, first: float, cap: float):
        self.first, self.cap, self.delay = first, cap, first

    def next(self) -> float:
        delay = self.delay * (1 + random.random() / 2)  # noqa: S311 - jitter, not crypto
        self.delay = min(self.delay * 2, self.cap)
        return delay

    def reset(self) -> None:
        self.delay = self.first


def closing(loop: Callable[[], None]) -> Callable[[], None]:
    """Run a thread's loop, then close the Django connection that thread opened (sinks, resync checks)."""

    def run() -> None:
        try:
            loop()
        finally:
            from django.db import connection

            connection.close()

    return run
