"""Celery tasks for GitHub: poll every mapped repository, attach commit ranges to deploys.

Thin: the poller talks to GitHub; these keep watermarks (``Watermark`` rows, one per connection and repository)
and store records through ``store_records`` like every other source.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from celery import shared_task
from django.db import transaction
from django.db.models import Q
from github import GithubException

from changetrack.ingest import pipeline
from changetrack.ingest.store import lock_identities, store_records
from changetrack.models import Change, Connection, Service, ServiceAlias
from integrations.github import poller
from integrations.polling import load_state, save_state, single_run

logger = logging.getLogger(__name__)

FIRST_POLL_LOOKBACK = timedelta(days=1)
RANGE_SWEEP_WINDOW = timedelta(days=1)


def _time(value: Any) -> datetime | None:
    try:
        return datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return None


def repositories(conn: Connection) -> list[str]:
    """The connection's ``repositories`` list if set, else every repository mapped to a service."""
    configured = conn.config.get("repositories")
    if isinstance(configured, list) and configured:
        return sorted({str(r) for r in configured if r})
    mapped = set(Service.objects.exclude(repository="").values_list("repository", flat=True))
    mapped |= set(
        ServiceAlias.objects.filter(Q(source="") | Q(source="github"), key="repo").values_list("value", flat=True)
    )
    return sorted(mapped)


def _known_shas(repository: str, since: datetime) -> set[str]:
    """SHAs already stored in commit changes of ``repository`` (from pushes or earlier polls)."""
    rows = Change.objects.filter(
        source="github", kind="commit", repository=repository, occurred_at__gte=since - timedelta(days=1)
    ).values_list("details", flat=True)
    return {sha for details in rows for sha in (details or {}).get("shas", []) if isinstance(sha, str)}


def poll_connection(conn: Connection, now: datetime | None = None, **client_options: Any) -> dict[str, Any]:
    """Poll each repository of ``conn`` from its watermark. A rate limit stops the run for this token and
    records when to resume; the repository's watermark stays put, so nothing between is skipped."""
    now = now or datetime.now(UTC)
    token = conn.secret_store().get("token")
    if not token:
        return {"skipped": "no token"}
    conn_key = f"github:{conn.pk}"
    resume = _time(load_state(conn_key).get("resume_after"))
    if resume and resume > now:
        return {"skipped": "rate limited", "resume_after": resume.isoformat()}
    gh = poller.client(token, str(conn.config.get("api_url") or ""), **client_options)
    summary: dict[str, Any] = {"repositories": 0, "records": 0, "errors": {}}
    for full_name in repositories(conn):
        key = f"{conn_key}:{full_name}"
        state = load_state(key)
        since = _time(state.get("since")) or now - FIRST_POLL_LOOKBACK
        result = poller.poll_repository(gh, full_name, since, _known_shas(full_name, since), now=now)
        if result.records:
            stored = store_records(result.records)
            # polled changes are often late (a missed webhook): alerts they may explain get re-ranked
            pipeline.after_store(set(), stored.late_changes)
        summary["repositories"] += 1
        summary["records"] += len(result.records)
        if result.polled_until is not None:
            save_state(key, {"since": result.polled_until.isoformat()})
        elif result.error:
            summary["errors"][full_name] = result.error
        if result.resume_after is not None:
            save_state(conn_key, {"resume_after": result.resume_after.isoformat()})
            summary["resume_after"] = result.resume_after.isoformat()
            break  # the limit is the token's: the other repositories would hit it too
    return summary


@shared_task(name="integrations.github.poll")
def poll_github() -> dict[str, Any]:
    """Beat entry: poll every enabled GitHub connection that has an API token."""
    out: dict[str, Any] = {}
    for conn in Connection.objects.filter(integration="github", enabled=True):
        with single_run(f"github:{conn.pk}") as mine:
            out[str(conn.pk)] = poll_connection(conn) if mine else {"skipped": "a poll is already running"}
        logger.info(
            "github.poll.done",
            extra={"connection": str(conn.pk), **{k: v for k, v in out[str(conn.pk)].items() if k != "errors"}},
        )
    return out


def _range_of(change: Change) -> tuple[str, str, str] | None:
    """(repository, from, to) for a change that knows its old and new commit (``details.commits``)."""
    commits = (change.details or {}).get("commits")
    if not isinstance(commits, dict):
        return None
    base, head = commits.get("from"), commits.get("to")
    repository = change.repository or (change.details or {}).get("repository") or ""
    if not (isinstance(base, str) and isinstance(head, str) and base and head and base != head and repository):
        return None
    return str(repository), base, head


def attach_range(change_id: int, **client_options: Any) -> str:
    """Fetch ``compare(from, to)`` and store it in the change's ``details.commit_range``. Returns an outcome
    word. Raises ``poller.RateLimited`` when GitHub asks to wait."""
    change = Change.objects.filter(pk=change_id).first()
    if change is None:
        return "missing"
    target = _range_of(change)
    if target is None:
        return "no range"
    repository, base, head = target
    conn = next(
        (c for c in Connection.objects.filter(integration="github", enabled=True) if c.secret_store().get("token")),
        None,
    )
    if conn is None:
        return "no github token"
    gh = poller.client(conn.secret_store().get("token") or "", str(conn.config.get("api_url") or ""), **client_options)
    try:
        found = poller.commit_range(gh, repository, base, head)
    except GithubException as exc:  # unknown repository or SHA (422): record it so the sweep does not retry forever
        found = {
            "from": base,
            "to": head,
            "repository": repository,
            "error": f"GitHub {exc.status}: {exc.message or exc.data}"[:300],
        }
    with transaction.atomic():
        lock_identities([(change.source, change.external_id)])  # the same lock store_records takes for this change
        row = Change.objects.select_for_update().get(pk=change.pk, occurred_at=change.occurred_at)
        # An enrichment, not a new version of the change: store_records keeps this key across source updates.
        Change.objects.filter(pk=row.pk, occurred_at=row.occurred_at).update(
            details={**row.details, "commit_range": found}
        )
    return "attached"


@shared_task(name="integrations.github.attach_commit_range", bind=True, max_retries=5)
def attach_commit_range(self: Any, change_id: int) -> str:
    """Attach the commits and files between a deploy's old and new commit; retried after a rate limit."""
    try:
        return attach_range(change_id)
    except poller.RateLimited as exc:
        countdown = max(1, int((exc.resume_after - datetime.now(UTC)).total_seconds()))
        raise self.retry(countdown=min(countdown, 3600), exc=exc) from exc


def pending_ranges(now: datetime | None = None, limit: int = 50) -> list[int]:
    """Recent changes with ``details.commits.from/to`` whose range is not attached yet (or is stale)."""
    now = now or datetime.now(UTC)
    candidates = Change.objects.filter(
        occurred_at__gte=now - RANGE_SWEEP_WINDOW, details__commits__has_key="from"
    ).order_by("-occurred_at")[:500]
    out: list[int] = []
    for change in candidates:
        target = _range_of(change)
        attached = (change.details or {}).get("commit_range") or {}
        if target and (attached.get("from"), attached.get("to")) != target[1:]:
            out.append(change.pk)
        if len(out) >= limit:
            break
    return out


@shared_task(name="integrations.github.attach_pending_commit_ranges")
def attach_pending_commit_ranges() -> int:
    """Beat entry: enqueue ``attach_commit_range`` for deploys whose commit range is missing."""
    ids = pending_ranges()
    for change_id in ids:
        attach_commit_range.delay(change_id)
    return len(ids)
