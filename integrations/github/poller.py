"""Polling GitHub with PyGithub: the default branch's commits, merged pull requests, Actions runs, deployments;
and commit ranges (``compare``) for deploys that know their old and new commit.

GitHub never retries a failed webhook delivery, so polling closes the gaps; records get the same external ids
as the webhook's, so a change seen both ways is stored once. Network only: no ORM here (``tasks.py`` keeps the
watermarks and stores the records).

Rate limits: PyGithub's default retry sleeps until the limit resets (up to an hour) inside the worker. We cap
the wait (``GithubRetry(max_rate_limit_wait=...)``), surface 429s instead of honouring a long Retry-After, and
return a ``resume_after`` time; the caller keeps the old watermark, so the next run resumes with no gap.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import requests
from github import Auth, Github, GithubException, GithubRetry, RateLimitExceededException
from github.GithubException import RateLimitExceededExceedsMaxWait

from integrations.base import ChangeRecord, ParseError
from integrations.github import records

logger = logging.getLogger(__name__)

DEFAULT_API_URL = "https://api.github.com"
#: runs and deployments change status after they are created: look this far behind the watermark for updates
UPDATE_LOOKBACK = timedelta(hours=6)
#: commit dates are the committer's clock, not the push time: overlap polls so late-dated commits are seen
COMMIT_OVERLAP = timedelta(hours=1)
MAX_COMMITS_PER_POLL = 1000
MAX_RANGE_COMMITS = 250
MAX_RANGE_FILES = 300
TRANSIENT_PAUSE = timedelta(minutes=1)


class RateLimited(Exception):
    """GitHub asked us to wait; ``resume_after`` is when the next attempt makes sense."""

    def __init__(self, resume_after: datetime, reason: str):
        super().__init__(reason)
        self.resume_after = resume_after


@dataclass
class RepoPoll:
    """What one poll of one repository found. ``resume_after`` set means the poll stopped early: the records
    found so far are good, but the watermark must not move."""

    repository: str
    records: list[ChangeRecord] = field(default_factory=list)
    polled_until: datetime | None = None
    resume_after: datetime | None = None
    error: str = ""


def client(
    token: str,
    api_url: str = "",
    *,
    backoff: float = 0.5,
    max_wait: float = 10.0,
    timeout: int = 15,
    min_interval: float = 0.25,
) -> Github:
    """A PyGithub client that retries 5xx a few times with backoff and never waits long for a rate limit.
    ``min_interval`` is PyGithub's pause between requests (its default), which keeps clear of secondary limits."""
    retry = GithubRetry(
        total=3,
        backoff_factor=backoff,
        max_rate_limit_wait=max_wait,
        respect_retry_after_header=False,
        secondary_rate_wait=60,
    )
    return Github(
        auth=Auth.Token(token),
        base_url=(api_url or DEFAULT_API_URL).rstrip("/"),
        per_page=100,
        timeout=timeout,
        retry=retry,
        seconds_between_requests=min_interval,
    )


def _header(headers: Any, name: str) -> str:
    if not headers:
        return ""
    for key, value in dict(headers).items():
        if key.lower() == name.lower():
            return str(value)
    return ""


def rate_limit_resume(exc: Exception, now: datetime) -> datetime:
    """When to come back after ``exc``: Retry-After, else X-RateLimit-Reset, else the capped wait, else a minute."""
    headers = getattr(exc, "headers", None)
    retry_after = _header(headers, "Retry-After")
    if retry_after.isdigit():
        return now + timedelta(seconds=int(retry_after))
    reset = _header(headers, "X-RateLimit-Reset")
    if reset.isdigit():
        return max(now, datetime.fromtimestamp(int(reset), UTC)) + timedelta(seconds=1)
    wait = getattr(exc, "wait", None)
    if isinstance(wait, (int, float)) and wait > 0:
        return now + timedelta(seconds=wait)
    return now + TRANSIENT_PAUSE


def classify(exc: Exception, now: datetime) -> RateLimited | None:
    """A rate limit or a transient failure becomes ``RateLimited`` (come back later); anything else is None."""
    if isinstance(exc, (RateLimitExceededExceedsMaxWait, RateLimitExceededException)):
        return RateLimited(rate_limit_resume(exc, now), "rate limited")
    if isinstance(exc, GithubException):
        if exc.status == 429 or (
            exc.status == 403
            and (_header(exc.headers, "Retry-After") or _header(exc.headers, "X-RateLimit-Remaining") == "0")
        ):
            return RateLimited(rate_limit_resume(exc, now), f"rate limited ({exc.status})")
        if exc.status >= 500:
            return RateLimited(now + TRANSIENT_PAUSE, f"GitHub error {exc.status}")
        return None
    if isinstance(
        exc, (requests.exceptions.RetryError, requests.exceptions.ConnectionError, requests.exceptions.Timeout)
    ):
        return RateLimited(now + TRANSIENT_PAUSE, f"GitHub unreachable: {type(exc).__name__}")
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


def poll_repository(
    gh: Github, full_name: str, since: datetime, known_shas: Iterable[str] = (), now: datetime | None = None
) -> RepoPoll:
    """Everything new in ``full_name`` since ``since``. Never raises for GitHub trouble: a rate limit or outage
    sets ``resume_after``; a missing repository or a payload we cannot read sets ``error``."""
    now = now or datetime.now(UTC)
    result = RepoPoll(full_name)
    try:
        repo = gh.get_repo(full_name)
        branch = repo.default_branch
        result.records += poll_commits(repo, branch, since, set(known_shas))
        result.records += poll_pulls(repo, branch, since)
        result.records += poll_runs(repo, since)
        result.records += poll_deployments(repo, since)
    except ParseError as exc:
        result.error = f"unexpected GitHub response: {exc}"
    except (GithubException, requests.exceptions.RequestException) as exc:
        limited = classify(exc, now)
        if limited is None:
            result.error = f"GitHub error: {exc}"[:500]
        else:
            result.resume_after, result.error = limited.resume_after, str(limited)
        logger.warning(
            "github.poll.stopped",
            extra={"repository": full_name, "error": result.error, "resume_after": _iso(result.resume_after)},
        )
        return result
    if not result.error:
        result.polled_until = now
    return result


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
    except (GithubException, requests.exceptions.RequestException) as exc:
        limited = classify(exc, now)
        if limited is not None:
            raise limited from exc
        raise


def authors(commits: Sequence[dict[str, Any]]) -> list[str]:
    return sorted({c["author"] for c in commits if c.get("author")})
