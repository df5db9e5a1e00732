"""Turning stored deliveries into changes and alerts, a batch at a time.

A batch is claimed with ``FOR UPDATE SKIP LOCKED``, so several workers share the backlog and a worker killed
mid-batch leaves its rows pending (its transaction rolls back) for the next drain or sweep. Parsing is pure;
a delivery that cannot be parsed, or whose records the JSON-safety check refuses, is marked failed with its
error and can be replayed. Storage is idempotent
on (source, external_id), so a batch redone after a crash creates nothing twice.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import InterfaceError, OperationalError, connection, transaction

from changetrack.correlation import triggers
from changetrack.gcpause import gc_paused
from changetrack.infra import db
from changetrack.ingest.record_limits import UnsafeJSON, check_lengths
from changetrack.ingest.store import StoreResult, store_records
from changetrack.models import Connection
from changetrack.resolution import ServiceResolver
from integrations import registry
from integrations.base import ParseError, Record, UnsupportedEvent, parse_json

logger = logging.getLogger(__name__)

#: Claims a batch and marks it processed with one record in the same statement (what most deliveries end as,
#: so the common batch needs no second pass over its rows); deliveries that end otherwise are corrected by
#: ``_mark`` before the transaction commits, so no other session ever sees the provisional marks.
#: ``received_at`` comes back as text: it is only handed back to PostgreSQL (Django's datetime loader is
#: Python work on every row), and text round-trips a timestamptz exactly.
_CLAIM = """
WITH claimed AS (
    SELECT id, received_at FROM changetrack_delivery
    WHERE status = 'pending' {extra}
    ORDER BY received_at
    LIMIT %(limit)s
    FOR UPDATE SKIP LOCKED
), marked AS (
    UPDATE changetrack_delivery d
    SET status = 'processed', processed_at = now(), attempts = d.attempts + 1, records = 1, error = ''
    -- ids are unique across partitions (one sequence); the received_at list prunes the partitions to visit
    WHERE d.id = ANY(ARRAY(SELECT id FROM claimed)) AND d.received_at = ANY(ARRAY(SELECT received_at FROM claimed))
    RETURNING d.id, d.received_at, d.connection_id, d.integration, d.event_type, d.body
)
SELECT id, received_at::text, connection_id, integration, event_type, body FROM marked ORDER BY received_at, id
"""


@dataclass
class BatchOutcome:
    claimed: int = 0
    processed: int = 0
    failed: int = 0
    ignored: int = 0
    records: int = 0
    alerts_to_rank: set[int] = field(default_factory=set)
    late_changes: list[tuple[int, Any]] = field(default_factory=list)
    resolver_dirty: bool = False  # a rolled-back store may have left uncommitted services in the resolver's cache
    stopped: bool = False  # the drain stopped between batches when asked to (pending deliveries may remain)


def process_batch(
    limit: int | None = None, ids: list[int] | None = None, resolver: ServiceResolver | None = None
) -> BatchOutcome:
    """Claim up to ``limit`` pending deliveries, store their records, mark them. One transaction.

    ``resolver`` may be shared by the batches of one drain (services are looked up once, not once per batch)."""
    limit = limit or settings.INGEST_BATCH_SIZE
    outcome = BatchOutcome()
    with gc_paused(), transaction.atomic():
        extra, params = ("AND id = ANY(%(ids)s)", {"ids": ids}) if ids else ("", {})
        with connection.wrap_database_errors, db.raw_cursor() as cur:
            # What a batch writes is derived from deliveries that are already durable: should PostgreSQL crash
            # in the instant after this commit, the batch rolls back whole (its deliveries pending again) and
            # is redone, idempotently. So the commit need not wait for the WAL flush (a sixth of a batch's time).
            cur.execute("SET LOCAL synchronous_commit = off")
            cur.execute(_CLAIM.format(extra=extra), {**params, "limit": limit})
            rows = cur.fetchall()
        if not rows:
            return outcome
        outcome.claimed = len(rows)
        configs = _configs({r[2] for r in rows})
        parsed: list[tuple[tuple[int, str], list[Record]]] = []
        marks: dict[str, list[tuple[int, str, int, str]]] = {"processed": [], "failed": [], "ignored": []}
        for delivery_id, received_at, conn_id, slug, event_type, body in rows:
            try:
                records = _parse(slug, event_type, body, configs.get(conn_id, {}))
                # the receiver refuses these; a delivery stored before a rule existed, or replayed, still must
                # fail alone with a readable error rather than abort the batch's bulk store. Its body was decoded
                # through the JSON-safety check (``_parse``), so only the columns' lengths are left to measure
                check_lengths(records)
            except UnsupportedEvent as exc:
                marks["ignored"].append((delivery_id, received_at, 0, str(exc)))
                continue
            except (ParseError, UnsafeJSON) as exc:
                marks["failed"].append((delivery_id, received_at, 0, str(exc)[:2000]))
                continue
            except Exception as exc:  # noqa: BLE001 - a parser bug fails this delivery (replayable), never the batch
                logger.exception("ingest.delivery.parser_crashed", extra={"delivery": delivery_id, "integration": slug})
                marks["failed"].append((delivery_id, received_at, 0, f"parser crashed: {exc!r}"[:2000]))
                continue
            parsed.append(((delivery_id, received_at), records))
        _store_parsed(parsed, marks, outcome, resolver or ServiceResolver())
        _mark(marks)
    outcome.processed = len(marks["processed"])
    outcome.failed = len(marks["failed"])
    outcome.ignored = len(marks["ignored"])
    return outcome


def _configs(connection_ids: set[Any]) -> dict[Any, dict[str, Any]]:
    return {c.pk: c.config for c in Connection.objects.filter(pk__in=connection_ids)}


def _parse(slug: str, event_type: str, body: bytes, config: dict[str, Any]) -> list[Record]:
    integration = registry.get(slug)
    if integration is None:
        raise ParseError(f"integration {slug!r} is not installed")
    return integration.parse(event_type, parse_json(bytes(body)), config)


def _store_parsed(
    parsed: list[tuple[tuple[int, str], list[Record]]],
    marks: dict[str, list[tuple[int, str, int, str]]],
    outcome: BatchOutcome,
    resolver: ServiceResolver,
) -> None:
    """Store all records at once; if that fails, store delivery by delivery to isolate the bad one."""
    try:
        with transaction.atomic():
            result = store_records([r for _, recs in parsed for r in recs], resolver=resolver)
        _collect(result, outcome)
        for (did, at), recs in parsed:
            marks["processed"].append((did, at, len(recs), ""))
        return
    except (OperationalError, InterfaceError):
        raise  # the database is going away: roll the batch back, it stays pending for the next drain
    except Exception as exc:  # noqa: BLE001 - any record that cannot be stored: find which delivery it came from
        outcome.resolver_dirty = True
        logger.warning("ingest.batch.isolating", extra={"error": repr(exc), "deliveries": len(parsed)})
    for (did, at), recs in parsed:
        try:
            with transaction.atomic():
                result = store_records(recs, resolver=ServiceResolver())
            _collect(result, outcome)
            marks["processed"].append((did, at, len(recs), ""))
        except (OperationalError, InterfaceError):
            raise
        except Exception as exc:  # noqa: BLE001 - e.g. NUL in a string, RecursionError on deep JSON: fail this one only
            marks["failed"].append((did, at, 0, f"storing failed: {exc!r}"[:2000]))


def _collect(result: StoreResult, outcome: BatchOutcome) -> None:
    outcome.records += len(result.changes) + len(result.alerts) + len(result.dependencies)
    outcome.alerts_to_rank |= result.alerts_to_rank
    outcome.late_changes += result.late_changes


def _mark(marks: dict[str, list[tuple[int, str, int, str]]]) -> None:
    """Correct the deliveries that did not end as the claim marked them (processed, one record): one UPDATE."""
    fixes = [
        (status, *item) for status, items in marks.items() for item in items if status != "processed" or item[2] != 1
    ]
    if not fixes:
        return
    with connection.wrap_database_errors, db.raw_cursor() as cur:
        cur.execute(
            """
            UPDATE changetrack_delivery d SET status = u.status, records = u.records, error = u.error
            FROM unnest(%(status)b::text[], %(id)b::bigint[], %(at)b::text[], %(records)b::int[], %(error)b::text[])
                AS u(status, id, received_at, records, error)
            WHERE d.id = u.id AND d.received_at = u.received_at::timestamptz AND d.id = ANY(%(id)b::bigint[])
            """,  # the ANY() lets the planner use the primary key instead of hashing the whole partition
            {name: [fix[i] for fix in fixes] for i, name in enumerate(("status", "id", "at", "records", "error"))},
        )


def drain(max_batches: int = 1000, stop: Callable[[], bool] | None = None) -> BatchOutcome:
    """Process batches until no pending delivery is left (or ``max_batches``); then hand off correlation.

    ``stop`` is asked between batches (a worker shutting down, a time budget): when it answers True the drain
    returns with ``stopped`` set, every delivery it did not claim still pending (none is half-done: a batch is one
    transaction)."""
    total = BatchOutcome()
    resolver = ServiceResolver()
    for n in range(max_batches):
        if n and stop is not None and stop():
            total.stopped = True
            break
        batch = process_batch(resolver=resolver)
        if batch.resolver_dirty:
            resolver = ServiceResolver()
        total.claimed += batch.claimed
        total.processed += batch.processed
        total.failed += batch.failed
        total.ignored += batch.ignored
        total.records += batch.records
        total.alerts_to_rank |= batch.alerts_to_rank
        total.late_changes += batch.late_changes
        if batch.claimed < settings.INGEST_BATCH_SIZE:
            break
    after_store(total.alerts_to_rank, total.late_changes)
    if total.claimed:
        logger.info(
            "ingest.drain.done", extra={"claimed": total.claimed, "processed": total.processed, "failed": total.failed}
        )
    return total


def after_store(alert_ids: set[int], late_changes: list[tuple[int, Any]]) -> None:
    """Ask the correlation engine to rank new alerts and re-rank alerts a late change may concern."""
    if not alert_ids and not late_changes:
        return
    triggers.on_stored(alert_ids, late_changes)
