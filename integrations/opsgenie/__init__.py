"""Opsgenie outgoing webhook (Webhook integration): alert Create, Acknowledge, UnAcknowledge, Close and Delete.

https://support.atlassian.com/opsgenie/docs/integrate-opsgenie-with-outgoing-webhooks/: one POST per alert
action, no signature and no delivery ID. The shared secret travels in a custom header (or Basic auth). The
alert is keyed by ``alias``, Opsgenie's stable cross-tool key (a Create after a Close with the same alias
re-opens it), falling back to ``alertId``; ``alertId`` + ``action`` + ``updatedAt`` identifies one delivery
and one lifecycle event. Delete ends the alert like Close (a deleted alert is no longer open anywhere);
UnAcknowledge puts it back to triggered. Other actions (AddNote, Escalate, custom actions...) are ignored.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from integrations.base import (
    AlertRecord,
    ConfigField,
    ParseError,
    Record,
    ServiceHint,
    event_field,
    parse_time,
    require,
    require_str,
    status_parser,
    tags_to_dict,
)
from integrations.shared_secret import TOKEN_HEADER, SharedSecretIntegration

PRIORITY_SEVERITY = {"P1": "critical", "P2": "error", "P3": "warning", "P4": "info", "P5": "info"}


def _alert(payload: Any) -> Mapping[str, Any]:
    alert = require(payload, "alert")
    if not isinstance(alert, Mapping):
        raise ParseError("field 'alert' must be an object")
    return alert


def event_key(payload: Any) -> str:
    alert = _alert(payload)
    return f"{require_str(alert, 'alertId')}:{require_str(payload, 'action')}:{require(alert, 'updatedAt')}"


def severity(priority: Any) -> str:
    # old payloads send the priority as an int (1..5)
    label = f"P{priority}" if isinstance(priority, int) and not isinstance(priority, bool) else str(priority or "")
    return PRIORITY_SEVERITY.get(label.upper(), "error")


def service_hint(alert: Mapping[str, Any]) -> ServiceHint:
    """``service:``/``env:``/``namespace:`` tags first; else the alert's entity names the service."""
    raw_tags = alert.get("tags") or []
    tags = tags_to_dict(str(t) for t in raw_tags) if isinstance(raw_tags, list) else {}
    entity = str(alert.get("entity") or "")
    keys = [("opsgenie_entity", entity)] if entity else []
    return ServiceHint(
        name=tags.get("service") or entity,
        env=tags.get("env", ""),
        namespace=tags.get("namespace", ""),
        keys=tuple(keys),
    )


def _record(payload: Any, status: str) -> list[Record]:
    alert = _alert(payload)
    alert_id = require_str(alert, "alertId")
    occurred = parse_time(require(alert, "updatedAt"), "alert.updatedAt")
    created = parse_time(alert["createdAt"], "alert.createdAt") if alert.get("createdAt") else None
    alias = str(alert.get("alias") or "")
    details: dict[str, Any] = {
        "action": require_str(payload, "action"),
        "alert_id": alert_id,
        "tiny_id": str(alert.get("tinyId") or ""),
        "alias": alias,
        "source": str(alert.get("source") or ""),
        "user": str(alert.get("username") or ""),
        "priority": str(alert.get("priority") or ""),
    }
    for optional in ("note", "description"):
        if isinstance(alert.get(optional), str) and alert[optional]:
            details[optional] = alert[optional][:1000]
    if isinstance(alert.get("details"), Mapping):
        details["details"] = dict(alert["details"])
    raw_tags = alert.get("tags")
    return [
        AlertRecord(
            source="opsgenie",
            external_id=alias or alert_id,
            title=require_str(alert, "message")[:1024],
            status=status,
            occurred_at=occurred,
            service=service_hint(alert),
            severity=severity(alert.get("priority")),
            started_at=created if status == "triggered" else None,
            event_id=event_key(payload),
            labels=tags_to_dict(str(t) for t in raw_tags) if isinstance(raw_tags, list) else {},
            details=details,
        )
    ]


parse_create = status_parser(_record, "triggered")
parse_acknowledge = status_parser(_record, "acknowledged")
parse_close = status_parser(_record, "resolved")
parse_unacknowledge = status_parser(_record, "triggered")


class OpsgenieIntegration(SharedSecretIntegration):
    slug = "opsgenie"
    label = "Opsgenie"
    emits = ("alerts",)
    config_fields = (
        ConfigField(
            "token",
            f"Shared secret (custom header {TOKEN_HEADER})",
            secret=True,
            hashed=True,
            required=True,
            help="Stored as a hash; shown once when the connection is created.",
        ),
    )
    parsers = {
        "Create": parse_create,
        "Acknowledge": parse_acknowledge,
        "UnAcknowledge": parse_unacknowledge,
        "Close": parse_close,
        "Delete": parse_close,
    }
    setup_instructions = (
        "In Opsgenie: Settings → Integrations → Add integration → Webhook. Webhook URL: this connection's URL. "
        'Turn on "Add Alert Description to Payload" and "Add Alert Details to Payload". Custom headers: '
        f"{TOKEN_HEADER} = <the secret shown once>. Alert actions to forward: Create, Acknowledge, "
        "UnAcknowledge, Close, Delete (others are accepted and ignored). Tag alerts service:<name> and env:<env>, or set the alert's "
        "entity to the service name, so alerts map to services; unmapped alerts are kept."
    )

    def event_type(self, headers: Mapping[str, str], payload: Any) -> str:
        return event_field(payload, "action")

    def delivery_key(self, headers: Mapping[str, str], raw_body: bytes, payload: Any) -> str:
        try:
            return event_key(payload)
        except ParseError:  # an ignored custom action without the usual fields: the body is the key
            return super().delivery_key(headers, raw_body, payload)
