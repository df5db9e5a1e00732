"""GitHub objects → change records. Shared by the webhook parsers and the poller.

Webhook payloads and REST responses use the same shapes for deployments, deployment statuses, workflow runs and
pull requests (the poller feeds PyGithub's ``raw_data`` through these functions), so a change seen by both paths
gets the same ``external_id`` and is stored once. Push commits and REST commits differ, hence two commit builders.
Docs: https://docs.github.com/en/webhooks/webhook-events-and-payloads
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from integrations.base import ChangeRecord, ParseError, ServiceHint, parse_time, require, require_str

SOURCE = "github"
MAX_COMMITS = 100  # a push carries up to 2048; the first hundred are enough to read, the count is kept

#: GitHub deployment states → our change status (REST adds queued, in_progress, inactive)
DEPLOY_STATUS = {
    "pending": "in_progress",
    "queued": "in_progress",
    "in_progress": "in_progress",
    "success": "succeeded",
    "failure": "failed",
    "error": "failed",
    "inactive": "inactive",
}
#: workflow run conclusions → our change status
RUN_CONCLUSION = {
    "success": "succeeded",
    "failure": "failed",
    "timed_out": "failed",
    "startup_failure": "failed",
    "cancelled": "cancelled",
    "skipped": "skipped",
    "neutral": "succeeded",
    "stale": "cancelled",
    "action_required": "in_progress",
}


def hint(repository: str, env: str = "") -> ServiceHint:
    """Services are found by repository (``Service.repository`` or a ``repo`` ServiceAlias)."""
    return ServiceHint(repository=repository, env=env)


def _login(user: Any) -> str:
    return user["login"] if isinstance(user, Mapping) and isinstance(user.get("login"), str) else ""


def _strings(value: Any) -> list[str]:
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []


def push_commit(commit: Mapping[str, Any]) -> dict[str, Any]:
    """One commit of a push payload, trimmed to what the change page shows."""
    author = require(commit, "author")
    return {
        "sha": require_str(commit, "id"),
        "message": str(require(commit, "message"))[:2000],
        "author": str(author.get("username") or author.get("name") or "") if isinstance(author, Mapping) else "",
        "timestamp": str(require(commit, "timestamp")),
        "url": str(commit.get("url") or ""),
        "files": [f for k in ("added", "modified", "removed") for f in _strings(commit.get(k))][:50],
    }


def rest_commit(commit: Mapping[str, Any]) -> dict[str, Any]:
    """One commit of ``GET /repos/{o}/{r}/commits`` or a comparison: ``author`` (the GitHub user) may be null."""
    git = require(commit, "commit")
    return {
        "sha": require_str(commit, "sha"),
        "message": str(require(git, "message"))[:2000],
        "author": _login(commit.get("author")) or str(require(git, "author", "name")),
        "timestamp": str(require(git, "author", "date")),
        "url": str(commit.get("html_url") or ""),
    }


def commits_change(
    repository: str,
    branch: str,
    commits: Sequence[Mapping[str, Any]],
    actor: str,
    compare_url: str = "",
    forced: bool = False,
) -> ChangeRecord:
    """The default branch moved to the newest of ``commits`` (oldest first). Keyed on the head SHA, so the
    push webhook and the poller seeing the same head store one change."""
    if not commits:
        raise ParseError("a commit change needs at least one commit")
    head = commits[-1]
    first_line = head["message"].splitlines()[0] if head["message"] else head["sha"][:7]
    more = f" (+{len(commits) - 1} more)" if len(commits) > 1 else ""
    details: dict[str, Any] = {
        "branch": branch,
        "commit_count": len(commits),
        "forced": forced,
        "commits": list(commits[-MAX_COMMITS:]),
        "shas": [c["sha"] for c in commits],
    }
    links = ({"title": "Compare on GitHub", "url": compare_url},) if compare_url else ()
    return ChangeRecord(
        source=SOURCE,
        external_id=f"commits:{repository}:{head['sha']}",
        kind="commit",
        occurred_at=parse_time(head["timestamp"], "commits[].timestamp"),
        summary=f"{repository}@{branch}: {first_line}{more}"[:1024],
        service=hint(repository),
        actor=actor or head["author"],
        status="succeeded",
        severity="warning" if forced else "info",  # history of the default branch was rewritten
        details=details,
        links=links,
        commit_sha=head["sha"],
        repository=repository,
    )


def pull_request_change(repository: str, pr: Mapping[str, Any]) -> ChangeRecord:
    """A merged pull request; ``merge_commit_sha`` links it to the push and the deploys of the same commit."""
    number = require(pr, "number")
    merged_at = require(pr, "merged_at")
    if not merged_at:
        raise ParseError("pull request is not merged")
    sha = require_str(pr, "merge_commit_sha")
    title = require_str(pr, "title")
    base = require_str(pr, "base", "ref")
    return ChangeRecord(
        source=SOURCE,
        external_id=f"pr:{repository}#{number}",
        kind="commit",
        occurred_at=parse_time(merged_at, "pull_request.merged_at"),
        summary=f"Merged #{number} into {base}: {title}"[:1024],
        service=hint(repository),
        actor=_login(pr.get("merged_by")) or _login(require(pr, "user")),
        status="succeeded",
        details={
            "number": number,
            "base": base,
            "head": str(require(pr, "head", "ref")),
            "author": _login(pr.get("user")),
            "merged_by": _login(pr.get("merged_by")),
        },
        links=({"title": f"PR #{number}", "url": str(pr.get("html_url") or "")},),
        commit_sha=sha,
        repository=repository,
    )


def deployment_change(repository: str, deployment: Mapping[str, Any], status: Mapping[str, Any] | None) -> ChangeRecord:
    """A deployment, updated in place by its statuses (same ``external_id``)."""
    dep_id = require(deployment, "id")
    sha = require_str(deployment, "sha")
    env = require_str(deployment, "environment")
    ref = str(require(deployment, "ref"))
    state = require_str(status, "state") if status is not None else "pending"
    if state not in DEPLOY_STATUS:
        raise ParseError(f"unknown deployment state {state!r}")
    ended: datetime | None = None
    order: list[Any] = [0, ""]  # the deployment itself comes before any of its statuses
    if status is not None:
        status_at = parse_time(require(status, "created_at"), "deployment_status.created_at")
        order = [1, status_at.isoformat()]
        if DEPLOY_STATUS[state] in {"succeeded", "failed"}:
            ended = status_at
    links = [{"title": "Deployment statuses", "url": str(deployment.get("statuses_url") or "")}]
    if status is not None:
        for name in ("log_url", "environment_url", "target_url"):
            if isinstance(status.get(name), str) and status[name]:
                links.append({"title": name.replace("_", " "), "url": status[name]})
                break
    return ChangeRecord(
        source=SOURCE,
        external_id=f"deployment:{repository}:{dep_id}",
        kind="deploy",
        occurred_at=parse_time(require(deployment, "created_at"), "deployment.created_at"),
        ended_at=ended,
        summary=f"Deploy {repository}@{ref} ({sha[:7]}) to {env}: {state}"[:1024],
        service=hint(repository, env),
        actor=_login(deployment.get("creator")),
        status=DEPLOY_STATUS[state],
        severity="warning" if DEPLOY_STATUS[state] == "failed" else "info",
        details={
            "deployment_id": dep_id,
            "environment": env,
            "ref": ref,
            "task": str(deployment.get("task") or ""),
            "state": state,
            "description": str((status or deployment).get("description") or "")[:500],
            "production_environment": bool(deployment.get("production_environment")),
            "_order": order,  # deliveries can arrive out of order: an older state never overwrites a newer one
        },
        links=tuple(link for link in links if link["url"]),
        commit_sha=sha,
        repository=repository,
    )


def workflow_run_change(repository: str, run: Mapping[str, Any]) -> ChangeRecord:
    """An Actions run, updated in place as it goes requested → in_progress → completed."""
    run_id = require(run, "id")
    status = require_str(run, "status")
    conclusion = run.get("conclusion")
    started = parse_time(run.get("run_started_at") or require(run, "created_at"), "workflow_run.run_started_at")
    ended: datetime | None = None
    details: dict[str, Any] = {
        "run_id": run_id,
        "workflow": str(require(run, "name")),
        "run_number": run.get("run_number"),
        "run_attempt": run.get("run_attempt"),
        "event": str(run.get("event") or ""),
        "branch": str(run.get("head_branch") or ""),
        "github_status": status,
        "conclusion": conclusion,
    }
    if status == "completed":
        if not isinstance(conclusion, str) or not conclusion:
            raise ParseError("a completed workflow run needs a conclusion")
        ours = RUN_CONCLUSION.get(conclusion, conclusion[:20])
        ended = parse_time(require(run, "updated_at"), "workflow_run.updated_at")
        details["duration_seconds"] = max(0, int((ended - started).total_seconds()))
    else:
        ours = "in_progress"
    rank = {"completed": 2, "in_progress": 1}.get(status, 0)
    updated = parse_time(require(run, "updated_at"), "workflow_run.updated_at").isoformat()
    details["_order"] = [run.get("run_attempt") or 1, rank, updated]
    title = str(run.get("display_title") or run["name"])
    return ChangeRecord(
        source=SOURCE,
        external_id=f"run:{repository}:{run_id}",
        kind="ci",
        occurred_at=started,
        ended_at=ended,
        summary=f"{run['name']} #{run.get('run_number')} on {repository}: {title} ({conclusion or status})"[:1024],
        service=hint(repository),
        actor=_login(run.get("triggering_actor")) or _login(run.get("actor")),
        status=ours,
        severity="warning" if ours == "failed" else "info",
        details=details,
        links=({"title": "Workflow run", "url": str(run.get("html_url") or "")},),
        commit_sha=require_str(run, "head_sha"),
        repository=repository,
    )
