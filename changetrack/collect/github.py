"""What GitHub polling and commit ranges need from the database.

``poll_config`` gives the pure poll (``integrations.github.poller.poll``) the repositories to read and the commit
SHAs already stored; ``attach_range`` stores a deploy's commit range (``compare``, fetched by the poller module)
in the change's ``details.commit_range``. The Celery tasks are in ``changetrack.collect.tasks``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from github import GithubException

from changetrack.ingest.scrubbing import scrub_key
from changetrack.ingest.store import lock_identities
from changetrack.models import Change, Connection, Service, ServiceAlias
from integrations.base import PollSession
from integrations.github import poller
from integrations.scrub import scrub_value

#: deploys younger than this whose commit range is missing are picked up by the sweep
RANGE_SWEEP_WINDOW = timedelta(days=1)


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


def known_shas(repository: str, since: datetime) -> set[str]:
    """SHAs already stored in commit changes of ``repository`` (from pushes or earlier polls)."""
    rows = Change.objects.filter(
        source="github", kind="commit", repository=repository, occurred_at__gte=since - timedelta(days=1)
    ).values_list("details", flat=True)
    return {sha for details in rows for sha in (details or {}).get("shas", []) if isinstance(sha, str)}


def poll_config(conn: Connection, state: Mapping[str, Any], now: datetime) -> dict[str, Any]:
    """``repositories`` and ``known_shas`` (repository → sorted SHAs) for the poll of ``conn`` from ``state``."""
    names = repositories(conn)
    return {
        "repositories": names,
        "known_shas": {name: sorted(known_shas(name, poller.since(state, name, now))) for name in names},
    }


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


def attach_range(change_id: int, session: PollSession) -> str:
    """Fetch ``compare(from, to)`` with the first enabled GitHub connection that has a token and store it in the
    change's ``details.commit_range``. Returns an outcome word. Raises ``RateLimited`` when GitHub asks to wait
    and ``requests.RequestException`` when it cannot be reached (the task retries both later)."""
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
    gh = poller.client_for(conn.config, conn.secret_store(), session)
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
            details={**row.details, "commit_range": scrub_value(found, scrub_key())}  # commit messages quote anything
        )
    return "attached"


def pending_ranges(now: datetime | None = None, limit: int = 50) -> list[int]:
    """Recent changes with ``details.commits.from/to`` whose range is not attached yet (or is stale)."""
    now = now or timezone.now()
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
