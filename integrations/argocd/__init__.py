"""Argo CD Notifications webhook with our template: syncs become ``deploy`` changes, one per app + revision,
updated in place as the operation runs and the app turns healthy (or not).

Argo CD signs nothing; the shared secret travels in a header set in ``service.webhook.<name>.headers``
and is stored as a hash. Docs: https://argo-cd.readthedocs.io/en/stable/operator-manual/notifications/services/webhook/

An application that has never run a sync operation has no ``status.operationState``: Go templates render its
fields as ``<no value>``. Such a notification (on-deployed, on-health-degraded) is still recorded: the revision
is the app's sync revision, the time the delivery's (noted in ``details.time_source``), the status its health.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
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
         "syncRevision": "{{.app.status.sync.revision}}",
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


#: what a Go template renders for a field that is not there (an app without ``operationState``)
NO_VALUE = "<no value>"
#: added to a stored body that has no sync time: when it was received
RECEIVED_AT = "changetrackReceivedAt"
_HEALTH_STATUS = {"Healthy": "succeeded", "Degraded": "failed", "Missing": "failed"}


def _given(payload: Mapping[str, Any], key: str, *, required: bool = True) -> str:
    """A template field, empty when the template had nothing to render there (``<no value>``). A field of
    the template that is missing altogether is a ``ParseError``: the body is not our template."""
    value = require(payload, key) if required else payload.get(key)
    if value is not None and not isinstance(value, str):
        raise ParseError(f"field {key!r} must be a string")
    return "" if value is None or value.strip() in {"", NO_VALUE} else value.strip()


def _started(payload: Mapping[str, Any]) -> tuple[datetime, str]:
    """(sync start, where it came from): the operation's start, else when the delivery was received."""
    if _given(payload, "startedAt"):
        return parse_time(payload["startedAt"], "startedAt"), "operation"
    if _given(payload, RECEIVED_AT, required=False):
        return parse_time(payload[RECEIVED_AT], RECEIVED_AT), "delivery"
    # only while the receiver checks the body, before storable_body() records the receipt time
    return datetime.now(UTC), "delivery"


def parse_sync(payload: Any, config: Mapping[str, Any]) -> list[Record]:
    app = require_str(payload, "app")
    revision = _given(payload, "revision") or _given(payload, "syncRevision", required=False)
    if not revision:
        raise ParseError("field 'revision' must be a non-empty string (and there is no syncRevision)")
    phase = _given(payload, "operationPhase")
    health = str(require(payload, "healthStatus"))
    started, time_source = _started(payload)
    finished_raw = _given(payload, "finishedAt", required=False)
    status = _status(phase, health) if phase else _HEALTH_STATUS.get(health, "in_progress")
    ended = parse_time(finished_raw, "finishedAt") if finished_raw and status != "in_progress" else None
    namespace = str(payload.get("destinationNamespace") or "")
    repo_url = str(payload.get("repoURL") or "")
    sha = commit_sha(revision)
    url = str(payload.get("url") or "")
    details: dict[str, Any] = {
        "app": app,
        "project": str(payload.get("project") or ""),
        "revision": revision,
        "operation_phase": phase or "none",
        "health": health,
        "sync_status": str(payload.get("syncStatus") or ""),
        "repo_url": repo_url,
        "message": str(payload.get("message") or "")[:1000],
        # a retried sync of the same revision starts later; within one operation, Running comes first
        "_order": [started.isoformat(), 0 if phase == "Running" else 1],
    }
    if time_source == "delivery":
        details["time_source"] = "delivery (the app has no sync operation: its sync time is unknown)"
    if ended is not None:
        details["duration_seconds"] = max(0, int((ended - started).total_seconds()))
    return [
        ChangeRecord(
            source="argocd",
            external_id=f"{app}@{revision}",
            kind="deploy",
            occurred_at=started,
            ended_at=ended,
            summary=f"Argo CD sync of {app} to {revision[:12]}: {phase or 'no sync operation'}, {health}"[:1024],
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

    def storable_body(self, raw_body: bytes, payload: Any) -> bytes:
        """A body without a sync time is stored with the time it was received: the pipeline's parse (and any
        replay) then gives the change the same time."""
        if not isinstance(payload, Mapping) or _given(payload, "startedAt", required=False):
            return raw_body
        received = {**payload, RECEIVED_AT: datetime.now(UTC).isoformat()}
        return json.dumps(received, separators=(",", ":"), ensure_ascii=False).encode()

    def delivery_key(self, headers: Mapping[str, str], raw_body: bytes, payload: Any) -> str:
        # healthStatus is part of the key beyond app+revision+phase+startedAt: on-sync-succeeded (Progressing)
        # and on-deployed (Healthy) share the other four, and the second must not be dropped as a duplicate.
        parts = [str(payload.get(k, "")) for k in ("app", "revision", "operationPhase", "startedAt", "healthStatus")]
        return "argocd:" + "|".join(parts)
