"""Polling the Datadog Events API v2 for the connections that set an ``events_query``.

Per connection, a ``Watermark`` (``datadog:<connection>:events``) holds JSON ``{"since": ISO, "retry_at": ISO,
"error": str}``. Each run reads from ``since`` minus a small overlap (events can be indexed late; storage is
idempotent on the event id), stores page by page and advances the watermark after every page, so a killed
worker resumes where it stopped. A 429 stops the run and sets ``retry_at`` from ``X-RateLimit-Reset``: the
worker never sleeps through a rate-limit window.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import requests
from django.utils import timezone

from changetrack.ingest.store import store_records
from changetrack.models import Connection, Watermark
from integrations.base import ChangeRecord, ParseError
from integrations.datadog.events import EventsClient, PollError, RateLimited, api_base, event_to_change

logger = logging.getLogger(__name__)
OVERLAP = timedelta(minutes=2)
DEFAULT_LOOKBACK_MINUTES = 60


@dataclass
class PollOutcome:
    events: int = 0
    stored: int = 0
    skipped: int = 0
    rate_limited: bool = False
    error: str = ""


def watermark_key(conn: Connection) -> str:
    return f"datadog:{conn.pk}:events"


def _load(conn: Connection) -> dict[str, Any]:
    row = Watermark.objects.filter(key=watermark_key(conn)).first()
    if row is None or not row.value:
        return {}
    try:
        state = json.loads(row.value)
    except ValueError:
        return {}
    return state if isinstance(state, dict) else {}


def _save(conn: Connection, state: dict[str, Any]) -> None:
    Watermark.objects.update_or_create(key=watermark_key(conn), defaults={"value": json.dumps(state)})


def _since(state: dict[str, Any], conn: Connection, now: datetime) -> datetime:
    if state.get("since"):
        return datetime.fromisoformat(state["since"]) - OVERLAP
    try:
        minutes = int(conn.config.get("events_lookback_minutes") or DEFAULT_LOOKBACK_MINUTES)
    except (TypeError, ValueError):  # a hand-edited config: fall back rather than stop polling
        minutes = DEFAULT_LOOKBACK_MINUTES
    return now - timedelta(minutes=max(1, minutes))


def poll_connection(
    conn: Connection,
    *,
    session: requests.Session | None = None,
    now: datetime | None = None,
    client: EventsClient | None = None,
) -> PollOutcome:
    """One polling run for one connection. Never raises for API trouble: it is recorded in the watermark."""
    now = now or timezone.now()
    outcome = PollOutcome()
    query = str(conn.config.get("events_query") or "").strip()
    state = _load(conn)
    if not query or (state.get("retry_at") and datetime.fromisoformat(state["retry_at"]) > now):
        return outcome
    secrets = conn.secret_store()
    newest = datetime.fromisoformat(state["since"]) if state.get("since") else _since(state, conn, now)
    try:
        client = client or EventsClient(
            api_base(str(conn.config.get("site") or "")),
            secrets.get("api_key") or "",
            secrets.get("app_key") or "",
            session=session,
        )
        for page in client.pages(query, _since(state, conn, now)):
            outcome.events += len(page)
            records: list[ChangeRecord] = []
            for event in page:
                try:
                    records.append(event_to_change(event))
                except ParseError as exc:
                    outcome.skipped += 1
                    logger.info("collect.datadog_event.skipped", extra={"connection": str(conn.pk), "error": str(exc)})
            if records:
                result = store_records(records)
                outcome.stored += sum(created for _, created in result.changes)
                newest = max(newest, *(r.occurred_at for r in records))
            state = {"since": newest.isoformat()}
            _save(conn, state)  # progress after every page
    except RateLimited as exc:
        outcome.rate_limited = True
        _save(
            conn,
            {**state, "since": newest.isoformat(), "retry_at": (now + timedelta(seconds=exc.retry_after)).isoformat()},
        )
        logger.info(
            "collect.datadog_events.rate_limited", extra={"connection": str(conn.pk), "retry_after": exc.retry_after}
        )
    except PollError as exc:
        outcome.error = str(exc)
        _save(conn, {**state, "since": newest.isoformat(), "error": str(exc)})
        logger.warning("collect.datadog_events.failed", extra={"connection": str(conn.pk), "error": str(exc)})
    return outcome


def poll_all() -> dict[str, int]:
    """Every enabled Datadog connection with an events query."""
    totals = {"connections": 0, "events": 0, "stored": 0}
    for conn in Connection.objects.filter(integration="datadog", enabled=True):
        if not conn.config.get("events_query"):
            continue
        outcome = poll_connection(conn)
        totals["connections"] += 1
        totals["events"] += outcome.events
        totals["stored"] += outcome.stored
    return totals
