"""Argo CD Notifications webhook with our template: syncs become ``deploy`` changes, one per app + revision,
updated in place as the operation runs and the app turns healthy (or not).

Argo CD signs nothing; the shared secret travels in a header set in ``service.webhook.<name>.headers``
and is stored as a hash. Docs: https://argo-cd.readthedocs.io/en/stable/operator-manual/notifications/services/webhook/
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from integrations.base import (
    ChangeRecord,
    ConfigField,
    Integration,
    ParseError,
    Record,
    ServiceHint,
    VerificationError,
    parse_time,
    require,
    require_str,
)
from integrations.gitref import commit_sha, repository_from_url

TEMPLATE = """\
template.changetrack: |
  webhook:
    changetrack:
      method: POST
      body: |
        {"source": "argocd", "event": "sync", "app": "{{.app.metadata.name}}", "project": "{{.app.spec.project}}",
         "destinationNamespace": "{{.app.spec.destination.namespace}}", "repoURL": "{{.app.spec.source.repoURL}}",
         "revision": "{{.app.status.operationState.operation.sync.revision}}",
         "syncStatus": "{{.app.status.sync.status}}", "healthStatus": "{{.app.status.health.status}}",
         "operationPhase": "{{.app.status.operationState.phase}}",
         "startedAt": "{{.app.status.operationState.startedAt}}", "finishedAt": "{{.app.status.operationState.finishedAt}}",
         "message": {{toJson .app.status.operationState.message}},
         "initiatedBy": "{{or .app.status.operationState.operation.initiatedBy.username "automated"}}",
         "url": "{{.context.argocdUrl}}/applications/{{.app.metadata.name}}"}
service.webhook.changetrack: |
  url: <webhook URL>
  headers:
  - name: X-Changetrack-Token
    value: $changetrack-token
trigger.on-sync-running / on-sync-succeeded / on-sync-failed / on-deployed / on-health-degraded: send [changetrack]
"""


def _status(phase: str, health: str) -> str:
    """A sync is done when its operation succeeded and the app is healthy; degraded after a sync is a failure."""
    if phase in {"Failed", "Error"}:
        return "failed"
    if phase == "Terminating":
        return "cancelled"
    if phase == "Succeeded":
        if health == "Healthy":
            return "succeeded"
        if health in {"Degraded", "Missing"}:
            return "failed"
    return "in_progress"


def parse_sync(payload: Any, config: Mapping[str, Any]) -> list[Record]:
    app = require_str(payload, "app")
    revision = require_str(payload, "revision")
    phase = require_str(payload, "operationPhase")
    health = str(require(payload, "healthStatus"))
    started = parse_time(require(payload, "startedAt"), "startedAt")
    finished_raw = payload.get("finishedAt")
    status = _status(phase, health)
    ended = parse_time(finished_raw, "finishedAt") if finished_raw and status != "in_progress" else None
    namespace = str(payload.get("destinationNamespace") or "")
    repo_url = str(payload.get("repoURL") or "")
    sha = commit_sha(revision)
    url = str(payload.get("url") or "")
    details: dict[str, Any] = {
        "app": app,
        "project": str(payload.get("project") or ""),
        "revision": revision,
        "operation_phase": phase,
        "health": health,
        "sync_status": str(payload.get("syncStatus") or ""),
        "repo_url": repo_url,
        "message": str(payload.get("message") or "")[:1000],
        # a retried sync of the same revision starts later; within one operation, Running comes first
        "_order": [started.isoformat(), 0 if phase == "Running" else 1],
    }
    if ended is not None:
        details["duration_seconds"] = max(0, int((ended - started).total_seconds()))
    return [
        ChangeRecord(
            source="argocd",
            external_id=f"{app}@{revision}",
            kind="deploy",
            occurred_at=started,
            ended_at=ended,
            summary=f"Argo CD sync of {app} to {revision[:12]}: {phase}, {health}"[:1024],
            service=ServiceHint(
                namespace=namespace, repository=repository_from_url(repo_url), keys=(("argocd_app", app),)
            ),
            actor=str(payload.get("initiatedBy") or ""),
            status=status,
            severity="warning" if status == "failed" else "info",
            details=details,
            links=({"title": "Application in Argo CD", "url": url},) if url else (),
            commit_sha=sha,
            repository=repository_from_url(repo_url),
        )
    ]


class ArgoCDIntegration(Integration):
    slug = "argocd"
    label = "Argo CD"
    emits = ("changes",)
    config_fields = (
        ConfigField("token", "Shared secret (header X-Changetrack-Token)", secret=True, hashed=True, required=True),
    )
    parsers = {"sync": parse_sync}
    setup_instructions = (
        "Add to the argocd-notifications-cm ConfigMap (and the secret to argocd-notifications-secret as "
        "changetrack-token), then subscribe applications with the annotation "
        'notifications.argoproj.io/subscribe.on-sync-succeeded.changetrack: "" (and the other triggers):\n'
        + TEMPLATE
        + "Applications map to services by ServiceAlias key 'argocd_app', else by repository and namespace."
    )

    def verify(self, headers: Mapping[str, str], raw_body: bytes, secrets: Any) -> None:
        if not secrets.matches("token", headers.get("X-Changetrack-Token")):
            raise VerificationError("missing or wrong X-Changetrack-Token")

    def event_type(self, headers: Mapping[str, str], payload: Any) -> str:
        if not isinstance(payload, dict):
            raise ParseError("body must be a JSON object (the changetrack notification template)")
        if require_str(payload, "source") != "argocd":
            raise ParseError("field 'source' must be 'argocd'")
        event = payload.get("event", "sync")  # the documented body predates the field: a sync
        if not isinstance(event, str) or not event:
            raise ParseError("field 'event' must be a non-empty string")
        return event

    def delivery_key(self, headers: Mapping[str, str], raw_body: bytes, payload: Any) -> str:
        # healthStatus is part of the key beyond app+revision+phase+startedAt: on-sync-succeeded (Progressing)
        # and on-deployed (Healthy) share the other four, and the second must not be dropped as a duplicate.
        parts = [str(payload.get(k, "")) for k in ("app", "revision", "operationPhase", "startedAt", "healthStatus")]
        return "argocd:" + "|".join(parts)
