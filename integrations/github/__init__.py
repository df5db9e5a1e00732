"""GitHub webhooks: push, merged pull requests, deployments and their statuses, Actions runs.

Signed with ``X-Hub-Signature-256`` (``sha256=<hex>``), deduped on ``X-GitHub-Delivery`` (redeliveries reuse it).
A webhook may use either content type GitHub offers: ``application/json`` or ``application/x-www-form-urlencoded``
(``payload=<json>``, signed over the form body); a form delivery is stored as its JSON payload.
GitHub never retries a failed delivery, so ``poll()`` (``integrations.github.poller``) closes the gaps.
Docs: https://docs.github.com/en/webhooks/using-webhooks/validating-webhook-deliveries
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs, urlparse

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
    parse_json,
    require,
    require_str,
    verify_hmac_sha256,
)
from integrations.github import records

ZERO_SHA = "0" * 40
FORM_PREFIX = b"payload="


def form_payload(raw_body: bytes) -> bytes:
    """The JSON inside a form-encoded delivery (``payload=<url-encoded json>``). Raises ``ParseError``."""
    try:
        fields = parse_qs(raw_body.decode("ascii"), strict_parsing=True, max_num_fields=10)
    except (UnicodeDecodeError, ValueError):
        raise ParseError("form body is not application/x-www-form-urlencoded") from None
    values = fields.get("payload")
    if not values or len(values) != 1:
        raise ParseError("form body must have exactly one 'payload' field")
    return values[0].encode("utf-8", "surrogatepass")


def _repository(payload: Any) -> str:
    """``owner/name``: ``full_name``, or for old push payloads without it (``owner`` has ``name``, not ``login``)
    the owner's name and the repository's name, or the path of its ``url``."""
    repo = require(payload, "repository")
    if not isinstance(repo, Mapping):
        raise ParseError("field 'repository' must be an object")
    if isinstance(repo.get("full_name"), str) and repo["full_name"]:
        return str(repo["full_name"])
    owner = repo.get("owner")
    owner_name = (owner.get("login") or owner.get("name")) if isinstance(owner, Mapping) else None
    if isinstance(owner_name, str) and owner_name and isinstance(repo.get("name"), str) and repo["name"]:
        return f"{owner_name}/{repo['name']}"
    path = urlparse(str(repo.get("url") or "")).path.strip("/").removesuffix(".git")
    if path.count("/") == 1:
        return path
    raise ParseError("field 'repository.full_name' must be a non-empty string")


def parse_push(payload: Any, config: Mapping[str, Any]) -> list[Record]:
    """One ``commit`` change per push to the default branch. Tag pushes, other branches and branch deletions
    are not changes to what runs (a tag's commit already arrived with its branch push)."""
    ref = require_str(payload, "ref")
    repo = _repository(payload)
    repository = require(payload, "repository")
    # old push payloads name the default branch master_branch
    default = require_str(repository, "default_branch" if "default_branch" in repository else "master_branch")
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
        "webhook URL. Content type: application/json (application/x-www-form-urlencoded works too). Secret: the webhook secret of this connection. Events: "
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

    def decode_body(self, headers: Mapping[str, str], raw_body: bytes) -> Any:
        if raw_body.startswith(FORM_PREFIX):  # JSON never starts with "p": no need to trust Content-Type
            return parse_json(form_payload(raw_body))
        return parse_json(raw_body)

    def storable_body(self, raw_body: bytes, payload: Any) -> bytes:
        return form_payload(raw_body) if raw_body.startswith(FORM_PREFIX) else raw_body

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
