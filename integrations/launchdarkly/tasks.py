"""Celery task for LaunchDarkly: read the audit log of every connection that has an API token."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from celery import shared_task

from changetrack.ingest import pipeline
from changetrack.ingest.store import store_records
from changetrack.models import Connection
from integrations.launchdarkly import poller
from integrations.polling import load_state, save_state, single_run

logger = logging.getLogger(__name__)
FIRST_POLL_LOOKBACK = timedelta(days=1)


def poll_connection(conn: Connection, now: datetime | None = None, **session_options: Any) -> dict[str, Any]:
    """Poll from the connection's watermark (epoch ms of the newest entry seen). A 429 or an outage keeps the
    watermark and records when to come back; the entries already read are stored (idempotent on ``_id``)."""
    now = now or datetime.now(UTC)
    token = conn.secret_store().get("api_token")
    if not token:
        return {"skipped": "no token"}
    key = f"launchdarkly:{conn.pk}"
    state = load_state(key)
    resume = state.get("resume_after")
    if isinstance(resume, str) and datetime.fromisoformat(resume) > now:
        return {"skipped": "rate limited", "resume_after": resume}
    after = state.get("after")
    if not isinstance(after, int):
        after = int((now - FIRST_POLL_LOOKBACK).timestamp() * 1000)
    result = poller.poll_audit_log(
        poller.session(token, **session_options),
        str(conn.config.get("api_url") or ""),
        after,
        str(conn.config.get("spec") or ""),
        now=now,
    )
    if result.records:
        stored = store_records(result.records)
        pipeline.after_store(set(), stored.late_changes)  # late flag changes may explain open alerts
    new_state: dict[str, Any] = {"after": result.newest if result.newest is not None else after}
    if result.resume_after is not None:
        new_state["resume_after"] = result.resume_after.isoformat()
    save_state(key, new_state)
    summary: dict[str, Any] = {"records": len(result.records), "pages": result.pages, "skipped": result.skipped}
    if result.error:
        summary["error"] = result.error
    if result.resume_after is not None:
        summary["resume_after"] = result.resume_after.isoformat()
    return summary


@shared_task(name="integrations.launchdarkly.poll")
def poll_launchdarkly() -> dict[str, Any]:
    """Beat entry: poll every enabled LaunchDarkly connection that has an API token."""
    out: dict[str, Any] = {}
    for conn in Connection.objects.filter(integration="launchdarkly", enabled=True):
        with single_run(f"launchdarkly:{conn.pk}") as mine:
            out[str(conn.pk)] = poll_connection(conn) if mine else {"skipped": "a poll is already running"}
        logger.info(
            "launchdarkly.poll.done", extra={"connection": str(conn.pk), "records": out[str(conn.pk)].get("records", 0)}
        )
    return out
