"""Waiting for what a real worker does in the background."""

from __future__ import annotations

import time
from collections.abc import Callable


def eventually(predicate: Callable[[], object], timeout: float = 30.0) -> bool:
    """True as soon as ``predicate()`` is truthy, polling every 100 ms; its last answer after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return bool(predicate())
