"""The one runner of pull sources: schedule, lock, saved state, rate limits, retries, storage.

Integrations implement only a pure ``poll()`` (``integrations.base.Integration.poll``). For each connection this
runner takes a Redis lock (one run at a time; its TTL frees it if a worker dies), skips a connection whose
``resume_after`` is still ahead, calls ``poll()`` with the saved state and a ``retrying_session()``, stores each
step's records and then saves the step's state, so a run killed half-way resumes from the last stored step. A
``RateLimited`` (or a source that cannot be reached) saves ``resume_after``; the last error and the last success
are kept on ``PollState``. Beat runs ``changetrack.poll_due`` every minute; each connection is polled every
``Integration.poll_interval``.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import redis
import requests
from django.utils import timezone
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from changetrack.collect import github
from changetrack.infra import redis as shared_redis
from changetrack.ingest import pipeline
from changetrack.ingest.record_limits import UnsafeJSON, check_records
from changetrack.ingest.store import store_records
from changetrack.models import Connection, PollState
from integrations import registry
from integrations.base import TRANSIENT_PAUSE, Integration, PollError, PollSession, RateLimited, Record

logger = logging.getLogger(__name__)

#: a run slower than this loses its lock (a worker that died must not block the connection for long)
LOCK_TTL_SECONDS = 900
LOCK_KEY = "changetrack:poll:{connection}"

#: what the runner adds to a connection's config from the database before calling ``poll()``, per integration
CONFIG_FROM_DATABASE: dict[str, Callable[[Connection, Mapping[str, Any], datetime], dict[str, Any]]] = {
    "github": github.poll_config,
}


def retrying_session(*, retries: int = 3, backoff: float = 0.5, timeout: float = 15.0) -> PollSession:
    """The session every poll's HTTP goes through: GETs are retried ``retries`` times with exponential backoff
    after a connection error, a timeout or a 5xx. A 429 is never retried nor slept on (``Retry-After`` is
    ignored here): ``poll()`` turns it into ``RateLimited`` and the runner comes back later, so a worker never
    sleeps through a rate-limit window. After the last retry the 5xx answer itself is returned."""
    retry = Retry(
        total=retries,
        backoff_factor=backoff,
        status_forcelist=(500, 502, 503, 504),
        allowed_methods=frozenset({"GET"}),
        respect_retry_after_header=False,
        raise_on_status=False,
    )
    session = PollSession(timeout=timeout)
    adapter = HTTPAdapter(max_retries=retry)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    session.headers["User-Agent"] = "changetrack-poller"
    return session


@dataclass
class RunSummary:
    """What one run did: ``outcome`` is polled, locked (another run holds the lock), rate limited (before
    ``resume_after``) or not set up (``poll_ready`` is false)."""

    connection: str
    outcome: str = "polled"
    records: int = 0
    created: int = 0
    kinds: Counter[str] = field(default_factory=Counter)
    steps: int = 0
    errors: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    resume_after: datetime | None = None
    next_poll_at: datetime | None = None

    @property
    def error(self) -> str:
        return "; ".join(self.errors)


def pollable(conn: Connection) -> Integration:
    """The integration of ``conn`` if it has ``poll()``; raises ``LookupError`` otherwise."""
    integration = registry.get(conn.integration)
    if integration is None or not integration.can_poll:
        raise LookupError(f"integration {conn.integration!r} has no poll()")
    return integration


def poll_connection(conn: Connection, *, now: datetime | None = None, session: PollSession | None = None) -> RunSummary:
    """Poll ``conn`` once now, under its lock (the schedule is ``due_connections``' business, the rate limit is
    honoured). Raises ``LookupError`` for an integration without ``poll()``; the source's trouble never raises:
    it is in the summary and on ``PollState``."""
    integration = pollable(conn)
    lock = shared_redis.client().lock(LOCK_KEY.format(connection=conn.pk), timeout=LOCK_TTL_SECONDS)
    try:
        mine = lock.acquire(blocking=False)
    except redis.RedisError as exc:  # polling is idempotent: without Redis, run rather than stop collecting
        logger.warning("collect.poll.lock_unavailable", extra={"connection": str(conn.pk), "error": repr(exc)})
        mine, lock = True, None
    if not mine:
        return RunSummary(str(conn.pk), outcome="locked")
    try:
        return _run(conn, integration, now or timezone.now(), session or retrying_session())
    finally:
        if lock is not None:
            try:
                lock.release()  # compare-and-delete in one Lua script: never deletes another run's lock
            except (redis.exceptions.LockError, redis.RedisError):
                pass  # our TTL ran out (another run may hold the key now) or Redis is gone: the TTL frees it


def _run(conn: Connection, integration: Integration, now: datetime, session: PollSession) -> RunSummary:
    row, _ = PollState.objects.get_or_create(connection=conn)
    summary = RunSummary(str(conn.pk))
    if row.resume_after is not None and row.resume_after > now:
        summary.outcome, summary.resume_after = "rate limited", row.resume_after
        return summary
    secrets = conn.secret_store()
    if not integration.poll_ready(conn.config, secrets):
        summary.outcome = "not set up"
        return summary
    extra = CONFIG_FROM_DATABASE.get(integration.slug)
    config = {**conn.config, **(extra(conn, row.state, now) if extra else {})}
    come_back: datetime | None = None
    try:
        for step in integration.poll(config, secrets, dict(row.state), now, session):
            _store(step.records, summary)
            row.state = dict(step.state)  # only once its records are stored: a kill here loses nothing
            PollState.objects.filter(pk=row.pk).update(state=row.state, updated_at=timezone.now())
            summary.steps += 1
            summary.errors += [step.error] if step.error else []
            summary.skipped += step.skipped
            come_back = max(filter(None, (come_back, step.next_poll_after)), default=None)
    except RateLimited as exc:
        summary.resume_after, come_back = exc.resume_after, exc.resume_after
        summary.errors.append(exc.reason)
    except requests.RequestException as exc:  # the session's retries are spent: the source is down
        summary.resume_after = come_back = now + TRANSIENT_PAUSE
        summary.errors.append(f"{integration.label} unreachable: {type(exc).__name__}")
    except PollError as exc:
        summary.errors.append(str(exc)[:500])
    summary.next_poll_at = max(filter(None, (now + integration.poll_interval, come_back)))
    _finish(row, summary, now)
    return summary


def _safe(records: Sequence[Record], summary: RunSummary) -> list[Record]:
    """The records PostgreSQL can store; each one the JSON-safety check refuses is left out with its reason in the
    summary (and so on ``PollState.last_error``), as a webhook delivery of it would have been refused with a 400."""
    kept: list[Record] = []
    for record in records:
        try:
            check_records([record])
        except UnsafeJSON as exc:
            summary.errors.append(f"{type(record).__name__} {getattr(record, 'external_id', '')} left out: {exc}"[:500])
            continue
        kept.append(record)
    return kept


def _store(records: Sequence[Record], summary: RunSummary) -> None:
    records = _safe(records, summary)
    if not records:
        return
    stored = store_records(records)
    # polled changes are often late (a missed webhook): alerts they may explain get re-ranked
    pipeline.after_store(set(), stored.late_changes)
    summary.records += len(records)
    summary.created += sum(created for _, created in (*stored.changes, *stored.dependencies))
    summary.kinds.update(getattr(r, "kind", type(r).__name__) for r in records)


def _finish(row: PollState, summary: RunSummary, now: datetime) -> None:
    row.resume_after = summary.resume_after
    row.next_poll_at = summary.next_poll_at
    row.last_run_at = now
    if summary.errors:
        row.last_error, row.last_error_at = summary.error[:2000], now
    else:
        row.last_error, row.last_success_at = "", now
        # what the integrations page shows as the last delivery, for a source that is polled rather than pushing
        Connection.objects.filter(pk=row.connection_id).update(last_delivery_at=now)
    row.save(
        update_fields=[
            "resume_after",
            "next_poll_at",
            "last_run_at",
            "last_error",
            "last_error_at",
            "last_success_at",
            "updated_at",
        ]
    )
    log = logger.warning if summary.errors else logger.info
    log(
        "collect.poll.done",
        extra={
            "connection": summary.connection,
            "records": summary.records,
            "new": summary.created,
            "steps": summary.steps,
            "error": summary.error,
            "skipped": summary.skipped[:20],
            "resume_after": summary.resume_after.isoformat() if summary.resume_after else None,
        },
    )


def due_connections(now: datetime | None = None) -> list[Connection]:
    """Enabled connections of pull sources that are set up and whose next poll (and rate limit) is past."""
    now = now or timezone.now()
    slugs = [slug for slug, integration in registry.INTEGRATIONS.items() if integration.can_poll]
    due: list[Connection] = []
    for conn in Connection.objects.filter(integration__in=slugs, enabled=True).select_related("poll_state"):
        row = getattr(conn, "poll_state", None)
        if row is not None and any(t is not None and t > now for t in (row.next_poll_at, row.resume_after)):
            continue
        if pollable(conn).poll_ready(conn.config, conn.secret_store()):
            due.append(conn)
    return due
