"""Database helpers shared by every writer: a psycopg cursor on Django's connection and advisory locks."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import Any

import psycopg
from django.db import connection


def raw_cursor() -> psycopg.Cursor[Any]:
    """A server-side-binding cursor on Django's connection (same transaction), used with binary (``%b``) array
    parameters: Django's default client-side binding escapes every element of a large array with a regex in
    Python, so one statement with arrays beats one statement per row only through this cursor."""
    connection.ensure_connection()
    return psycopg.Cursor(connection.connection)


def advisory_key(*parts: str) -> int:
    """A signed 64-bit advisory-lock key for ``parts`` (joined with NUL, so ("a", "bc") != ("ab", "c"))."""
    digest = hashlib.blake2b("\0".join(parts).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def advisory_xact_lock(keys: Iterable[int]) -> None:
    """Take transaction-scoped advisory locks on ``keys`` in ascending order, so two writers never deadlock.
    Must run inside a transaction (the locks are released at its end)."""
    ids = sorted(set(keys))
    if ids:
        with connection.wrap_database_errors, raw_cursor() as cur:
            cur.execute("SELECT pg_advisory_xact_lock(k) FROM unnest(%b::bigint[]) AS k ORDER BY k", [ids])
