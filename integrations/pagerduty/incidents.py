"""PagerDuty Webhooks v3 incident events → alert lifecycle events.

https://developer.pagerduty.com/docs/webhooks-overview: one event per payload, ``{"event": {...}}``, delivered
at least once and in order per incident (but retries can still interleave, so the store orders by
``occurred_at`` and ignores older events). The alert is the incident (``data.id``); ``event.id`` makes a
replayed event a no-op.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from integrations.base import AlertRecord, ParseError, Record, ServiceHint, parse_time, require, require_str

URGENCY_SEVERITY = {"high": "error", "low": "warning"}


def _ref_summary(value: Any) -> str:
    return str(value.get("summary") or "") if isinstance(value, Mapping) else ""


def _ref_summaries(value: Any) -> list[str]:
    return [_ref_summary(v) for v in value if isinstance(v, Mapping)] if isinstance(value, list) else []


def service_hint(data: Mapping[str, Any]) -> ServiceHint:
    """The PagerDuty service's name (its ``summary``) as the name and as a ``pagerduty_service`` alias key."""
    service = require(data, "service")
    if not isinstance(service, Mapping):
        raise ParseError("field 'event.data.service' must be an object")
    name = str(service.get("summary") or "")
    keys = [("pagerduty_service", name)] if name else []
    if service.get("id"):
        keys.append(("pagerduty_service_id", str(service["id"])))
    return ServiceHint(name=name, keys=tuple(keys))


def severity(data: Mapping[str, Any]) -> str:
    if _ref_summary(data.get("priority")).upper() == "P1":
        return "critical"
    return URGENCY_SEVERITY.get(str(data.get("urgency") or ""), "error")


def incident(payload: Any, status: str, *, reopened: bool = False) -> list[Record]:
    event = require(payload, "event")
    if not isinstance(event, Mapping):
        raise ParseError("field 'event' must be an object")
    data = require(event, "data")
    if not isinstance(data, Mapping) or require_str(data, "type") != "incident":
        raise ParseError("field 'event.data' must be an incident")
    occurred = parse_time(require(event, "occurred_at"), "event.occurred_at")
    created = parse_time(data["created_at"], "event.data.created_at") if data.get("created_at") else None
    html_url = str(data.get("html_url") or "")
    priority = _ref_summary(data.get("priority"))
    return [
        AlertRecord(
            source="pagerduty",
            external_id=require_str(data, "id"),
            title=require_str(data, "title")[:1024],
            status=status,
            occurred_at=occurred,
            service=service_hint(data),
            severity=severity(data),
            started_at=created,
            retrigger=False,
            event_id=require_str(event, "id"),
            labels={
                "incident_key": str(data.get("incident_key") or ""),
                "number": data.get("number"),
                "urgency": str(data.get("urgency") or ""),
                "priority": priority,
            },
            details={
                "event_type": require_str(event, "event_type"),
                "agent": _ref_summary(event.get("agent")),
                "assignees": _ref_summaries(data.get("assignees")),
                "teams": _ref_summaries(data.get("teams")),
                "escalation_policy": _ref_summary(data.get("escalation_policy")),
                "resolve_reason": data.get("resolve_reason")
                if isinstance(data.get("resolve_reason"), (str, type(None)))
                else None,
                "reopened": reopened,
            },
            links=({"href": html_url, "text": "PagerDuty incident"},) if html_url else (),
            url=html_url,
        )
    ]
