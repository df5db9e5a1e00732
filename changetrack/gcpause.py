"""Pausing the cyclic garbage collector around one bounded batch of work (a pipeline batch, a bulk POST)."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def gc_paused() -> Iterator[None]:
    """No cyclic collection while a batch is in hand. A batch keeps tens of thousands of fresh containers alive
    (payloads, records, rows) until it ends, so collections keep firing and each traverses them all, the full
    ones every long-lived object of Django too: a third of the pipeline's time and most of a bulk POST's JSON
    parse in profiles. Reference counting still frees everything; the rare cycles made meanwhile are collected
    by the first collection after."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
