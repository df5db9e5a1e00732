"""Daily range partitions for the tables that grow without bound.

Each partitioned table has one partition per day for the retention window (plus a few days ahead) and a
DEFAULT partition for timestamps outside it (a clock far off, a backfill): nothing is ever rejected for lack
of a partition. Retention drops whole partitions; it never bulk-DELETEs.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import date, datetime, timedelta, timezone

from django.conf import settings
from django.db import connection, transaction

from changetrack.infra import db

logger = logging.getLogger(__name__)

#: table → (partition column, retention setting name)
PARTITIONED: dict[str, tuple[str, str]] = {
    "changetrack_change": ("occurred_at", "RETENTION_DAYS"),
    "changetrack_delivery": ("received_at", "DELIVERY_RETENTION_DAYS"),
}

_known: set[str] = set()


def partition_name(table: str, day: date) -> str:
    return f"{table}_p{day:%Y%m%d}"


def _window(table: str, today: date) -> tuple[date, date]:
    retention = int(getattr(settings, PARTITIONED[table][1]))
    return today - timedelta(days=retention), today + timedelta(days=settings.PARTITION_PRECREATE_DAYS)


def ensure_for(table: str, moments: Iterable[datetime]) -> None:
    """Make sure the day partitions for ``moments`` exist when inside the window (others land in DEFAULT).

    Call it *outside* the transaction that inserts: creating a partition locks the parent table briefly."""
    today = datetime.now(timezone.utc).date()
    low, high = _window(table, today)
    days = {m.astimezone(timezone.utc).date() for m in moments}
    for day in sorted(days):
        if low <= day <= high and partition_name(table, day) not in _known:
            create_partition(table, day)


def create_partition(table: str, day: date) -> bool:
    """Create one day's partition, moving any rows for that day out of DEFAULT first. Idempotent."""
    name = partition_name(table, day)
    column = PARTITIONED[table][0]
    lo = datetime(day.year, day.month, day.day, tzinfo=timezone.utc)
    hi = lo + timedelta(days=1)
    with transaction.atomic(), connection.cursor() as cur:
        db.advisory_xact_lock([db.advisory_key("partition", table)])
        cur.execute("SELECT to_regclass(%s) IS NOT NULL", [name])
        if cur.fetchone()[0]:
            _remember(name)
            return False
        cur.execute(f'CREATE TABLE "{name}" (LIKE "{table}" INCLUDING DEFAULTS INCLUDING CONSTRAINTS)')
        cur.execute(
            f'WITH moved AS (DELETE FROM "{table}_default" WHERE "{column}" >= %s AND "{column}" < %s RETURNING *) '
            f'INSERT INTO "{name}" SELECT * FROM moved',
            [lo, hi],
        )
        cur.execute(f'ALTER TABLE "{table}" ATTACH PARTITION "{name}" FOR VALUES FROM (%s) TO (%s)', [lo, hi])
    _remember(name)
    logger.info("partitions.partition.created", extra={"table": table, "partition": name})
    return True


def _remember(name: str) -> None:
    """Cache the partition as existing once its creation is committed: a rolled-back transaction (a failed
    batch, a test) takes the table with it, and a stale cache would send that day's rows to DEFAULT."""
    transaction.on_commit(lambda: _known.add(name))


def existing_partitions(table: str) -> list[str]:
    with connection.cursor() as cur:
        cur.execute(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = %s ORDER BY c.relname",
            [table],
        )
        return [row[0] for row in cur.fetchall()]


def maintain(today: date | None = None) -> dict[str, dict[str, list[str]]]:
    """Create partitions for the window ahead and drop those older than retention. Returns what it did."""
    today = today or datetime.now(timezone.utc).date()
    report: dict[str, dict[str, list[str]]] = {}
    for table, (column, _) in PARTITIONED.items():
        low, high = _window(table, today)
        created = [partition_name(table, d) for d in _days(today, high) if create_partition(table, d)]
        dropped = []
        for name in existing_partitions(table):
            suffix = name.rsplit("_p", 1)[-1]
            if not (suffix.isdigit() and len(suffix) == 8):
                continue
            day = datetime.strptime(suffix, "%Y%m%d").date()
            if day < low:
                with connection.cursor() as cur:
                    cur.execute("SET CONSTRAINTS ALL IMMEDIATE")  # flush deferred FK checks queued on its rows
                    cur.execute(f'DROP TABLE "{name}"')
                _known.discard(name)
                dropped.append(name)
        with connection.cursor() as cur:  # the DEFAULT partition holds only out-of-window stragglers
            cur.execute(
                f'DELETE FROM "{table}_default" WHERE "{column}" < %s',
                [datetime(low.year, low.month, low.day, tzinfo=timezone.utc)],
            )
        report[table] = {"created": created, "dropped": dropped}
    return report


def _days(start: date, end: date) -> Iterable[date]:
    day = start
    while day <= end:
        yield day
        day += timedelta(days=1)
