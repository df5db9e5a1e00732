"""Datadog monitor notifications through the Webhooks integration, with the payload template we document.

Datadog has no signature and no delivery-ID header (https://docs.datadoghq.com/integrations/webhooks/): the
webhook carries our shared secret in a custom header, and the template carries ``$ID`` (one per notification,
the same on a retry: our delivery key) and ``$ALERT_CYCLE_KEY`` (one per trigger→recovery cycle: the alert's
``external_id``).

Transitions (``$ALERT_TRANSITION``) map onto the alert lifecycle like this:
- ``Triggered`` opens (or re-opens) the cycle with the severity of ``alert_type``/``priority``.
- ``Re-Triggered``, ``Renotify``, ``Re-Warn`` and ``Re-No Data`` repeat within an open cycle: counted as
  re-triggers (``trigger_count``), never as new alerts.
- ``Warn`` and ``No Data`` are degraded states: the cycle is open (status triggered) with severity ``warning``
  and ``details.state`` saying which; an escalation to ``Triggered`` in the same cycle raises the severity.
- ``Recovered`` resolves the cycle.
- Anything else (``Null``, future values) is unsupported: stored as ignored.

Bodies built from other variable sets (Datadog's default payload, ``$ALERT_*`` under other names) are read too:
``integrations.datadog.payloads``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import datetime, timedelta
from typing import Any

from integrations.base import (
    AlertRecord,
    ConfigField,
    ParseError,
    PollResult,
    PollSession,
    Record,
    Secrets,
    ServiceHint,
    event_field,
    parse_time,
    require_str,
    tags_to_dict,
)
from integrations.datadog import payloads
from integrations.shared_secret import TOKEN_HEADER, SharedSecretIntegration

#: The body to paste into the webhook's "Payload" field. Variables substitute as text, so all are quoted.
PAYLOAD_TEMPLATE = (
    '{"id":"$ID","date":"$DATE","title":"$EVENT_TITLE","transition":"$ALERT_TRANSITION",'
    '"alert_type":"$ALERT_TYPE","monitor_id":"$ALERT_ID","cycle_key":"$ALERT_CYCLE_KEY",'
    '"aggreg_key":"$AGGREG_KEY","priority":"$ALERT_PRIORITY","scope":"$ALERT_SCOPE","status":"$ALERT_STATUS",'
    '"tags":"$TAGS","link":"$LINK","org":{"id":"$ORG_ID","name":"$ORG_NAME"}}'
)

ALERT_TYPE_SEVERITY = {"error": "error", "warning": "warning", "info": "info", "success": "info"}


#: tags naming the workload, most specific first: Datadog's unified service tag, then the Kubernetes agent's tags
_WORKLOAD_TAGS = (
    "service",
    "kube_app_name",
    "kube_deployment",
    "kube_stateful_set",
    "kube_daemon_set",
    "kube_cronjob",
    "kube_service",
    "app",
)


def split_tags(text: str) -> dict[str, str]:
    """``"env:prod, service:checkout"`` → ``{"env": "prod", "service": "checkout"}`` (``$TAGS``/``$ALERT_SCOPE``)."""
    return tags_to_dict(t for t in text.split(",") if t.strip())


def service_hint_from_tags(*sources: Mapping[str, str], monitor: str = "") -> ServiceHint:
    """Service, env, namespace and cluster from ``service:``/``env:``/``kube_namespace:``/``kube_cluster_name:``
    tags, the first source that has each winning; the Datadog service and monitor become alias keys."""

    def pick(name: str) -> str:
        return next((source[name] for source in sources if source.get(name)), "")

    # why the fallbacks: monitors on Kubernetes metrics often carry only the agent's kube_* tags, no service:
    name = next((pick(tag) for tag in _WORKLOAD_TAGS if pick(tag)), "")
    keys = [("datadog_service", pick("service"))] if pick("service") else []
    if monitor:
        keys.append(("datadog_monitor", monitor))
    return ServiceHint(
        name=name,
        env=pick("env"),
        namespace=pick("kube_namespace"),
        cluster=pick("kube_cluster_name"),
        keys=tuple(keys),
    )


def service_hint(payload: Mapping[str, Any]) -> ServiceHint:
    """From the alert's scope (the group that fired) first, then the monitor's tags."""
    return service_hint_from_tags(
        split_tags(_text(payload, "scope")), split_tags(_text(payload, "tags")), monitor=_text(payload, "monitor_id")
    )


def severity(payload: Mapping[str, Any], default: str = "error") -> str:
    fields = payloads.normalise(payload)
    if fields["priority"].upper() == "P1":
        return "critical"
    return ALERT_TYPE_SEVERITY.get(fields["alert_type"].lower(), default)


def _text(payload: Mapping[str, Any], key: str) -> str:
    """An optional field of a normalised body (``payloads.normalise``)."""
    if not isinstance(payload, Mapping):
        raise ParseError("body must be a JSON object")
    return payloads.text(payload.get(key, ""), key)


def _record(raw: Any, *, status: str, sev: str, retrigger: bool = False, state: str = "") -> list[Record]:
    payload = payloads.normalise(raw)
    event_id = payload["id"]  # empty without $ID: the alert is still recorded, deduped by body
    cycle_key = payload["cycle_key"]
    if not payload["date"]:
        raise ParseError("field 'date' is missing (send $DATE or $LAST_UPDATED)")
    occurred = parse_time(payload["date"], "date")
    title = payloads.TITLE_PREFIX.sub("", require_str(payload, "title")) or payload["title"]
    transition = require_str(payload, "transition")
    raw_org = payload.get("org")
    org: Mapping[str, Any] = raw_org if isinstance(raw_org, Mapping) else {}
    details = {
        "transition": transition,
        "monitor_id": _text(payload, "monitor_id"),
        "priority": _text(payload, "priority"),
        "alert_type": _text(payload, "alert_type"),
        "scope": _text(payload, "scope"),
        "status": _text(payload, "status")[:2000],
        "aggreg_key": _text(payload, "aggreg_key"),
        "org": {"id": str(org.get("id") or ""), "name": str(org.get("name") or "")},
        "identity": payload["identity"],
    }
    if state:
        details["state"] = state
    link = _text(payload, "link")
    return [
        AlertRecord(
            source="datadog",
            external_id=cycle_key,
            title=title[:1024],
            status=status,
            occurred_at=occurred,
            service=service_hint(payload),
            severity=sev,
            started_at=occurred if status == "triggered" and not retrigger else None,
            retrigger=retrigger,
            event_id=event_id,
            labels=split_tags(_text(payload, "tags")),
            details=details,
            links=({"href": link, "text": "Datadog event"},) if link else (),
            url=link,
        )
    ]


def parse_triggered(payload: Any, config: Mapping[str, Any]) -> list[Record]:
    return _record(payload, status="triggered", sev=severity(payload))


def parse_retriggered(payload: Any, config: Mapping[str, Any]) -> list[Record]:
    """Re-Triggered / Renotify: the same cycle, notified again."""
    return _record(payload, status="triggered", sev=severity(payload), retrigger=True)


def parse_warn(payload: Any, config: Mapping[str, Any]) -> list[Record]:
    return _record(payload, status="triggered", sev="warning", state="warn")


def parse_rewarn(payload: Any, config: Mapping[str, Any]) -> list[Record]:
    return _record(payload, status="triggered", sev="warning", retrigger=True, state="warn")


def parse_no_data(payload: Any, config: Mapping[str, Any]) -> list[Record]:
    return _record(payload, status="triggered", sev="warning", state="no_data")


def parse_re_no_data(payload: Any, config: Mapping[str, Any]) -> list[Record]:
    return _record(payload, status="triggered", sev="warning", retrigger=True, state="no_data")


def parse_recovered(payload: Any, config: Mapping[str, Any]) -> list[Record]:
    return _record(payload, status="resolved", sev=severity(payload, "info"))


class DatadogIntegration(SharedSecretIntegration):
    slug = "datadog"
    label = "Datadog"
    emits = ("alerts",)
    config_fields = (
        ConfigField(
            "token",
            f"Shared secret (sent by Datadog in the {TOKEN_HEADER} custom header)",
            secret=True,
            hashed=True,
            required=True,
            help="Stored as a hash; shown once when the connection is created.",
        ),
        ConfigField(
            "events_query",
            "Events API query for changes (optional), e.g. tags:change_kind:deploy",
            help="When set, Datadog events matching it are polled every minute and stored as changes.",
        ),
        ConfigField(
            "site",
            "Datadog site for the Events API",
            help="datadoghq.com (default), datadoghq.eu, us3.datadoghq.com...",
        ),
        ConfigField("api_key", "API key (Events API polling only)", secret=True, help="Stored encrypted."),
        ConfigField(
            "app_key",
            "Application key with events_read (Events API polling only)",
            secret=True,
            help="Stored encrypted.",
        ),
    )
    parsers = {
        "Triggered": parse_triggered,
        "Re-Triggered": parse_retriggered,
        "Renotify": parse_retriggered,
        "Warn": parse_warn,
        "Re-Warn": parse_rewarn,
        "No Data": parse_no_data,
        "Re-No Data": parse_re_no_data,
        "Recovered": parse_recovered,
    }
    setup_instructions = (
        "In Datadog: Integrations → Webhooks → New webhook (or POST /api/v1/integration/webhooks/configuration/webhooks).\n"
        "1. Name: changetrack. URL: this connection's webhook URL.\n"
        "2. Payload (paste exactly, keep every variable quoted):\n"
        f"{PAYLOAD_TEMPLATE}\n"
        f'3. Custom headers: {{"{TOKEN_HEADER}": "<the secret shown once>"}}. Encode as: JSON.\n'
        "Required in any payload: a time ($DATE or $LAST_UPDATED) and a title ($EVENT_TITLE), or "
        "$ALERT_TRANSITION. Without the template, Datadog's default payload and bodies naming the variables "
        "differently (alert_transition, alert_id, alert_cycle_key, alert_scope, alert_priority...) are read too; "
        "without $ALERT_CYCLE_KEY an alert is identified by monitor ($ALERT_ID) and scope, so a new cycle re-opens "
        "it. Use the template above to get one alert per cycle.\n"
        "4. Add @webhook-changetrack to the message of every monitor whose alerts we should see. Tag monitors "
        "(or group them) by service:, env: and kube_namespace: so alerts map to services; unmapped alerts are "
        "kept and can be mapped later with a datadog_service or datadog_monitor alias.\n"
        "Optional, changes from Datadog events: set an events query (e.g. tags:change_kind:deploy), the site, an "
        "API key and an application key with events_read. Matching events become changes (kind from a "
        "change_kind: tag, else custom; service from service:/env:/kube_namespace: tags)."
    )

    def event_type(self, headers: Mapping[str, str], payload: Any) -> str:
        normalised = payloads.normalise(payload)
        if not normalised["transition"]:
            if not normalised["title"]:
                raise ParseError("body has neither a transition ($ALERT_TRANSITION) nor a title ($EVENT_TITLE)")
            return "Unknown"  # a Datadog body whose state we cannot tell: stored as ignored
        return event_field(normalised, "transition")

    def delivery_key(self, headers: Mapping[str, str], raw_body: bytes, payload: Any) -> str:
        # $ID is one per notification and the same on Datadog's retries
        event_id = payloads.normalise(payload)["id"] if isinstance(payload, Mapping) else None
        return event_id if isinstance(event_id, str) and event_id else super().delivery_key(headers, raw_body, payload)

    #: the Events API is cheap to ask and deploy markers are wanted on the timeline quickly
    poll_interval = timedelta(minutes=1)

    def poll_ready(self, config: Mapping[str, Any], secrets: Secrets) -> bool:
        return bool(str(config.get("events_query") or "").strip())

    def poll(
        self, config: Mapping[str, Any], secrets: Secrets, state: Mapping[str, Any], now: datetime, session: PollSession
    ) -> Iterator[PollResult]:
        """See ``integrations.datadog.events.poll``."""
        from integrations.datadog import events  # events imports this package (service_hint_from_tags)

        return events.poll(config, secrets, state, now, session)
