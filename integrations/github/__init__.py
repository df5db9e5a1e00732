"""GitHub webhooks: push, merged pull requests, deployments and their statuses, Actions runs.

Signed with ``X-Hub-Signature-256`` (``sha256=<hex>``), deduped on ``X-GitHub-Delivery`` (redeliveries reuse it).
GitHub never retries a failed delivery, so ``poll()`` (``integrations.github.poller``) closes the gaps.
Docs: https://docs.github.com/en/webhooks/using-webhooks/validating-webhook-deliveries
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import Any

from integrations.base import (
    ConfigField,
    Integration,
    ParseError,
    PollResult,
    PollSession,
    Record,
    Secrets,
    UnsupportedEvent,
    VerificationError,
    require,
    require_str,
    verify_hmac_sha256,
)
from integrations.github import records

ZERO_SHA = "0" * 40


def _repository(payload: Any) -> str:
    return require_str(payload, "repository", "full_name")


def parse_push(payload: Any, config: Mapping[str, Any]) -> list[Record]:
    """One ``commit`` change per push to the default branch. Tag pushes, other branches and branch deletions
    are not changes to what runs (a tag's commit already arrived with its branch push)."""
    ref = require_str(payload, "ref")
    repo = _repository(payload)
    default = require_str(payload, "repository", "default_branch")
    if not ref.startswith("refs/heads/"):
        raise UnsupportedEvent(f"push of {ref} is not a branch push")
    branch = ref.removeprefix("refs/heads/")
    if branch != default:
        raise UnsupportedEvent(f"push to {branch}, not the default branch {default}")
    if require(payload, "deleted") or require_str(payload, "after") == ZERO_SHA:
        raise UnsupportedEvent("branch deletion")
    commits = require(payload, "commits")
    if not isinstance(commits, list):
        raise ParseError("field 'commits' must be a list")
    items = [records.push_commit(c) for c in commits]
    if not items:  # a push that moved the branch to an existing commit (e.g. a fast-forward to a merged ref)
        items = [records.push_commit(require(payload, "head_commit"))]
    pusher = require(payload, "pusher")
    return [
        records.commits_change(
            repo,
            branch,
            items,
            str(pusher.get("name") or "") if isinstance(pusher, Mapping) else "",
            compare_url=str(payload.get("compare") or ""),
            forced=bool(payload.get("forced")),
        )
    ]


def parse_pull_request(payload: Any, config: Mapping[str, Any]) -> list[Record]:
    action = require_str(payload, "action")
    pr = require(payload, "pull_request")
    if action != "closed" or not require(pr, "merged"):
        raise UnsupportedEvent(f"pull_request {action} (only merged pull requests are changes)")
    return [records.pull_request_change(_repository(payload), pr)]


def parse_deployment(payload: Any, config: Mapping[str, Any]) -> list[Record]:
    return [records.deployment_change(_repository(payload), require(payload, "deployment"), None)]


def parse_deployment_status(payload: Any, config: Mapping[str, Any]) -> list[Record]:
    # GitHub marks earlier successful deployments inactive when a newer one succeeds: that says nothing new
    # about this deployment, and must not hide that it succeeded.
    if require_str(payload, "deployment_status", "state") == "inactive":
        raise UnsupportedEvent("deployment superseded (inactive)")
    return [
        records.deployment_change(
            _repository(payload), require(payload, "deployment"), require(payload, "deployment_status")
        )
    ]


def parse_workflow_run(payload: Any, config: Mapping[str, Any]) -> list[Record]:
    run = require(payload, "workflow_run")
    # Runs for pull requests test unmerged code: not a change to anything that runs.
    if require_str(run, "event") in {"pull_request", "pull_request_target", "merge_group"}:
        raise UnsupportedEvent(f"workflow run for {run['event']}")
    return [records.workflow_run_change(_repository(payload), run)]


class GitHubIntegration(Integration):
    slug = "github"
    label = "GitHub"
    emits = ("changes",)
    config_fields = (
        ConfigField(
            "webhook_secret",
            "Webhook secret",
            secret=True,
            required=True,
            help="The secret set on the GitHub webhook; kept encrypted (needed to compute the HMAC).",
        ),
        ConfigField(
            "token",
            "API token (for polling and commit ranges)",
            secret=True,
            help="Fine-grained token with read access to contents, pull requests, actions, deployments.",
        ),
        ConfigField("api_url", "API URL", help="https://api.github.com, or https://HOST/api/v3 for GitHub Enterprise."),
    )
    parsers = {
        "push": parse_push,
        "pull_request": parse_pull_request,
        "deployment": parse_deployment,
        "deployment_status": parse_deployment_status,
        "workflow_run": parse_workflow_run,
    }
    ignored_events = frozenset({"ping"})
    setup_instructions = (
        "In the repository or organization: Settings → Webhooks → Add webhook. Payload URL: this connection's "
        "webhook URL. Content type: application/json. Secret: the webhook secret of this connection. Events: "
        "Pushes, Pull requests, Deployments, Deployment statuses, Workflow runs. Set Service.repository "
        "(owner/name) on each service, or add a ServiceAlias with key 'repo'. With an API token, changetrack "
        "also polls the default branch, merged pull requests, Actions runs and deployments every few minutes, "
        "because GitHub never retries a failed delivery."
    )

    def verify(self, headers: Mapping[str, str], raw_body: bytes, secrets: Any) -> None:
        provided = headers.get("X-Hub-Signature-256")
        if not provided:
            raise VerificationError("X-Hub-Signature-256 header missing (set a secret on the webhook)")
        scheme, _, digest = provided.partition("=")
        if scheme != "sha256" or not digest:
            raise VerificationError("X-Hub-Signature-256 must be sha256=<hex>")
        verify_hmac_sha256(secrets.get("webhook_secret"), raw_body, digest)

    def event_type(self, headers: Mapping[str, str], payload: Any) -> str:
        event = headers.get("X-GitHub-Event")
        if not event:
            raise ParseError("X-GitHub-Event header missing")
        if not isinstance(payload, dict):
            raise ParseError("body must be a JSON object")
        return event

    def delivery_key(self, headers: Mapping[str, str], raw_body: bytes, payload: Any) -> str:
        delivery = headers.get("X-GitHub-Delivery")
        if not delivery:
            raise ParseError("X-GitHub-Delivery header missing")
        return f"github:{delivery}"

    def poll_ready(self, config: Mapping[str, Any], secrets: Secrets) -> bool:
        return bool(secrets.get("token"))

    def poll(
        self, config: Mapping[str, Any], secrets: Secrets, state: Mapping[str, Any], now: datetime, session: PollSession
    ) -> Iterator[PollResult]:
        """See ``integrations.github.poller.poll``."""
        from integrations.github import poller  # PyGithub is only needed where polls run

        return poller.poll(config, secrets, state, now, session)
