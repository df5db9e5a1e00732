"""Polling GitHub with PyGithub: the default branch's commits, merged pull requests, Actions runs, deployments;
and commit ranges (``compare``) for deploys that know their old and new commit.

GitHub never retries a failed webhook delivery, so polling closes the gaps; records get the same external ids
as the webhook's, so a change seen both ways is stored once. Network only: no ORM here. The runner
(``changetrack.collect.polling``) passes the repository list and the commit SHAs already stored in ``config``,
and keeps the state (``{"repositories": {full_name: {"since": ISO}}}``).

How this honours the polling contract although PyGithub makes its own HTTP session: ``client()`` hands PyGithub
the runner session's urllib3 ``Retry`` and timeout, so 5xx and connection errors are retried exactly as for the
other sources. PyGithub's default retry (``GithubRetry``) would sleep until a rate limit resets, up to an hour,
inside the worker; with the session's plain ``Retry`` a 403/429 rate limit is never retried nor slept on: it
becomes ``RateLimited`` with the reset time, and the repository's watermark stays put until the next run.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from github import Auth, Github, GithubException, RateLimitExceededException

from integrations.base import (
    TRANSIENT_PAUSE,
    ChangeRecord,
    ParseError,
    PollError,
    PollResult,
    PollSession,
    RateLimited,
    Secrets,
    resume_after,
)
from integrations.github import records

logger = logging.getLogger(__name__)

DEFAULT_API_URL = "https://api.github.com"
#: runs and deployments change status after they are created: look this far behind the watermark for updates
UPDATE_LOOKBACK = timedelta(hours=6)
#: commit dates are the committer's clock, not the push time: overlap polls so late-dated commits are seen
COMMIT_OVERLAP = timedelta(hours=1)
#: a repository polled for the first time is read this far back
FIRST_POLL_LOOKBACK = timedelta(days=1)
MAX_COMMITS_PER_POLL = 1000
MAX_RANGE_COMMITS = 250
MAX_RANGE_FILES = 300
#: PyGithub's own default pause between requests, which keeps clear of GitHub's secondary rate limits
MIN_REQUEST_INTERVAL = 0.25


def client(token: str, api_url: str, session: PollSession, min_interval: float = MIN_REQUEST_INTERVAL) -> Github:
    """A PyGithub client using ``session``'s retry policy and timeout (see the module docstring).
    ``min_interval`` is PyGithub's pause between requests (seconds)."""
    return Github(
        auth=Auth.Token(token),
        base_url=(api_url or DEFAULT_API_URL).rstrip("/"),
        per_page=100,
        timeout=int(max(1, session.timeout)),
        retry=session.retry,
        seconds_between_requests=min_interval,
    )


def client_for(config: Mapping[str, Any], secrets: Secrets, session: PollSession) -> Github:
    """``client()`` for a connection: its ``token`` secret, ``api_url`` (GitHub Enterprise) and optional
    ``seconds_between_requests``. Raises ``PollError`` without a token."""
    token = secrets.get("token")
    if not token:
        raise PollError("this connection has no GitHub API token")
    interval = config.get("seconds_between_requests")
    return client(
        token,
        str(config.get("api_url") or ""),
        session,
        float(interval) if isinstance(interval, (int, float)) else MIN_REQUEST_INTERVAL,
    )


def limited(exc: Exception, now: datetime) -> RateLimited | None:
    """A rate limit (403/429 with GitHub's headers) or a 5xx the retries did not cure becomes ``RateLimited``;
    anything else is None. Primary limits: https://docs.github.com/rest/using-the-rest-api/rate-limits"""
    if not isinstance(exc, GithubException):
        return None
    headers = dict(exc.headers or {})
    lowered = {k.lower(): v for k, v in headers.items()}
    if (
        isinstance(exc, RateLimitExceededException)
        or exc.status == 429
        or (exc.status == 403 and (lowered.get("retry-after") or lowered.get("x-ratelimit-remaining") == "0"))
    ):
        return RateLimited(resume_after(headers, now), f"GitHub rate limited ({exc.status})")
    if exc.status >= 500:
        return RateLimited(now + TRANSIENT_PAUSE, f"GitHub error {exc.status}")
    return None


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _login(user: Any) -> dict[str, str] | None:
    return {"login": user.login} if user is not None else None


def _commit_dict(c: Any) -> dict[str, Any]:
    """The REST shape ``records.rest_commit`` reads, from attributes the list response already carries."""
    git = c.commit
    return {
        "sha": c.sha,
        "html_url": c.html_url,
        "author": _login(c.author),
        "commit": {"message": git.message, "author": {"name": git.author.name, "date": _iso(git.author.date)}},
    }


def _add(out: list[ChangeRecord], build: Any, *args: Any) -> None:
    """Append ``build(*args)``; an object GitHub returned in an unexpected shape is logged and skipped, so one
    odd run or deployment cannot hold the repository's watermark back forever."""
    try:
        out.append(build(*args))
    except ParseError as exc:
        logger.warning("github.poll.skipped", extra={"builder": build.__name__, "error": str(exc)})


def poll_commits(repo: Any, branch: str, since: datetime, known: set[str]) -> list[ChangeRecord]:
    """New commits on ``branch`` since ``since`` (minus those already stored) as one change keyed on the newest."""
    found: list[dict[str, Any]] = []
    for c in repo.get_commits(sha=branch, since=since - COMMIT_OVERLAP):
        if len(found) >= MAX_COMMITS_PER_POLL:
            break
        if c.sha not in known:
            try:
                found.append(records.rest_commit(_commit_dict(c)))
            except ParseError as exc:
                logger.warning("github.poll.skipped", extra={"builder": "rest_commit", "error": str(exc)})
    if not found:
        return []
    found.reverse()  # the API lists newest first; a change lists oldest first, like a push
    return [records.commits_change(repo.full_name, branch, found, actor="")]


def poll_pulls(repo: Any, branch: str, since: datetime) -> list[ChangeRecord]:
    out: list[ChangeRecord] = []
    for pr in repo.get_pulls(state="closed", sort="updated", direction="desc", base=branch):
        if pr.updated_at < since - COMMIT_OVERLAP:
            break  # sorted by update time: everything after is older
        if pr.merged_at is None:
            continue
        _add(
            out,
            records.pull_request_change,
            repo.full_name,
            {
                "number": pr.number,
                "merged_at": _iso(pr.merged_at),
                "merge_commit_sha": pr.merge_commit_sha,
                "title": pr.title,
                "base": {"ref": pr.base.ref},
                "head": {"ref": pr.head.ref},
                "user": _login(pr.user),
                "html_url": pr.html_url,
            },
        )
    return out


def poll_runs(repo: Any, since: datetime) -> list[ChangeRecord]:
    out: list[ChangeRecord] = []
    created = f">={(since - UPDATE_LOOKBACK).strftime('%Y-%m-%dT%H:%M:%SZ')}"
    for run in repo.get_workflow_runs(created=created):
        if run.event in {"pull_request", "pull_request_target", "merge_group"}:
            continue
        _add(
            out,
            records.workflow_run_change,
            repo.full_name,
            {
                "id": run.id,
                "name": run.name,
                "display_title": run.display_title,
                "run_number": run.run_number,
                "run_attempt": run.run_attempt,
                "event": run.event,
                "status": run.status,
                "conclusion": run.conclusion,
                "head_sha": run.head_sha,
                "head_branch": run.head_branch,
                "html_url": run.html_url,
                "created_at": _iso(run.created_at),
                "updated_at": _iso(run.updated_at),
                "run_started_at": _iso(run.run_started_at),
                "actor": _login(run.actor),
            },
        )
    return out


def poll_deployments(repo: Any, since: datetime) -> list[ChangeRecord]:
    out: list[ChangeRecord] = []
    for dep in repo.get_deployments():
        if dep.created_at < since - UPDATE_LOOKBACK:
            break  # newest first
        deployment = {
            "id": dep.id,
            "sha": dep.sha,
            "ref": dep.ref,
            "task": dep.task,
            "environment": dep.environment,
            "description": dep.description,
            "creator": _login(dep.creator),
            "created_at": _iso(dep.created_at),
            "statuses_url": dep.statuses_url,
            "production_environment": dep.production_environment,
        }
        status = None
        for s in dep.get_statuses():  # newest first: the first one that is not "inactive" (superseded) is the state
            if s.state == "inactive":
                continue
            status = {
                "state": s.state,
                "created_at": _iso(s.created_at),
                "description": s.description,
                "log_url": s.log_url,
                "environment_url": s.environment_url,
                "target_url": s.target_url,
            }
            break
        _add(out, records.deployment_change, repo.full_name, deployment, status)
    return out


def since(state: Mapping[str, Any], full_name: str, now: datetime) -> datetime:
    """Where the poll of ``full_name`` starts: its saved ``since``, else ``FIRST_POLL_LOOKBACK`` ago."""
    saved = (state.get("repositories") or {}).get(full_name) or {}
    try:
        return datetime.fromisoformat(saved["since"])
    except (KeyError, TypeError, ValueError):
        return now - FIRST_POLL_LOOKBACK


def poll(
    config: Mapping[str, Any], secrets: Secrets, state: Mapping[str, Any], now: datetime, session: PollSession
) -> Iterator[PollResult]:
    """One step per repository of ``config["repositories"]``, each from its own ``since`` (the contract of
    ``Integration.poll``). ``config["known_shas"]`` maps a repository to the commit SHAs already stored, so a
    pushed commit is not repeated in a polled change.

    A repository GitHub does not know, or answers oddly for, is a step with ``error`` and the others go on.
    A rate limit or an outage raises ``RateLimited`` after a step with what was found so far: the limit is the
    token's, so the other repositories would hit it too; the repository's ``since`` stays put (no gap)."""
    gh = client_for(config, secrets, session)
    known = config.get("known_shas") or {}
    saved: dict[str, Any] = dict(state.get("repositories") or {})
    for full_name in config.get("repositories") or []:
        found: list[ChangeRecord] = []
        start = since(state, full_name, now)
        try:
            poll_repository(gh, full_name, start, known.get(full_name, ()), found)
        except ParseError as exc:
            yield PollResult(found, {"repositories": dict(saved)}, error=f"{full_name}: unexpected answer: {exc}")
            continue
        except GithubException as exc:
            pause = limited(exc, now)
            if pause is not None:
                yield PollResult(found, {"repositories": dict(saved)})
                raise pause from exc
            yield PollResult(found, {"repositories": dict(saved)}, error=f"{full_name}: GitHub error: {exc}"[:500])
            continue
        saved[full_name] = {"since": now.isoformat()}
        yield PollResult(found, {"repositories": dict(saved)})


def poll_repository(
    gh: Github, full_name: str, since: datetime, known_shas: Iterable[str], out: list[ChangeRecord]
) -> None:
    """Append everything new in ``full_name`` since ``since`` to ``out`` (so what was found before an error is
    kept). Raises ``GithubException`` and ``ParseError``."""
    repo = gh.get_repo(full_name)
    branch = repo.default_branch
    out += poll_commits(repo, branch, since, set(known_shas))
    out += poll_pulls(repo, branch, since)
    out += poll_runs(repo, since)
    out += poll_deployments(repo, since)


def commit_range(gh: Github, full_name: str, base: str, head: str) -> dict[str, Any]:
    """The comparison ``base...head``: commits (sha, author, message, url) and files changed.

    Raises ``RateLimited`` to be retried later; other GitHub errors propagate as ``GithubException``."""
    now = datetime.now(UTC)
    try:
        repo = gh.withLazy(True).get_repo(full_name)  # no GET /repos: compare is the only call
        cmp = repo.compare(base, head)
        status = cmp.status  # completes the comparison: its first page of commits comes with it
        commits: list[dict[str, Any]] = []
        for c in cmp.commits:
            if len(commits) >= MAX_RANGE_COMMITS:
                break
            commits.append(records.rest_commit(_commit_dict(c)))
        files = [
            {"filename": f.filename, "status": f.status, "additions": f.additions, "deletions": f.deletions}
            for f in cmp.files[:MAX_RANGE_FILES]
        ]
        return {
            "from": base,
            "to": head,
            "repository": full_name,
            "status": status,
            "ahead_by": cmp.ahead_by,
            "behind_by": cmp.behind_by,
            "total_commits": cmp.total_commits,
            "url": cmp.html_url,
            "commits": commits,
            "files": files,
            "truncated": cmp.total_commits > len(commits),
        }
    except GithubException as exc:
        pause = limited(exc, now)
        if pause is not None:
            raise pause from exc
        raise
