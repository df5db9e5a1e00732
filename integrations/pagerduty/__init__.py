"""PagerDuty: Webhooks v3 incident events (signed) and Change Events (Events API v2 bodies) on one URL.

A request with ``X-PagerDuty-Signature`` is a v3 webhook: valid when any ``v1=`` entry of the header is the
HMAC-SHA256 of the raw body with the subscription's signing secret (several during a secret rotation,
https://developer.pagerduty.com/docs/verifying-signatures). A request without it must be a Change Event whose
``routing_key`` matches the connection's hashed routing key; a connection without one accepts no change events.

Incident events used: triggered, acknowledged, unacknowledged (back to triggered: the acknowledgement timed
out), resolved, reopened. The other documented types (reassigned, escalated, annotated, ``service.*``...) are
stored as ignored: our alert lifecycle has no state for them. ``pagey.ping`` is accepted and produces nothing.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from typing import Any

from integrations.base import (
    ConfigField,
    Integration,
    ParseError,
    VerificationError,
    parse_json,
    require_str,
    status_parser,
)
from integrations.pagerduty import change_events, incidents

CHANGE_EVENT = "change_event"
SIGNATURE_HEADER = "X-PagerDuty-Signature"
CHANGE_ENQUEUE_PATH = "v2/change/enqueue"


def signatures(header: str) -> list[str]:
    """The ``v1=`` entries of a signature header, prefix stripped (other versions are skipped)."""
    out = []
    for entry in header.split(","):
        version, sep, value = entry.strip().partition("=")
        if sep and version == "v1" and value.strip():
            out.append(value.strip().lower())
    return out


def verify_signature(secret: str | None, raw_body: bytes, header: str) -> None:
    if not secret:
        raise VerificationError("this connection has no PagerDuty signing secret configured")
    expected = hmac.new(secret.encode(), raw_body, hashlib.sha256).hexdigest().encode()
    # compare against every entry (no early exit) so timing does not reveal which one matched
    matched = False
    for candidate in signatures(header):
        matched |= hmac.compare_digest(expected, candidate.encode())
    if not matched:
        raise VerificationError("no v1 signature in X-PagerDuty-Signature matches the body")


class PagerDutyIntegration(Integration):
    slug = "pagerduty"
    label = "PagerDuty"
    emits = ("alerts", "changes")
    config_fields = (
        ConfigField(
            "signing_secret",
            "Webhook signing secret (from the v3 webhook subscription)",
            secret=True,
            required=True,
            help="Needed in clear to compute the HMAC; stored encrypted.",
        ),
        ConfigField(
            "routing_key",
            "Integration key your pipelines put in Change Events (routing_key)",
            secret=True,
            hashed=True,
            help="Only compared, stored as a hash. Without it, Change Events are refused (401).",
        ),
        ConfigField("change_service", "Service for Change Events that name none in custom_details.service"),
    )
    parsers = {
        "incident.triggered": status_parser(incidents.incident, "triggered"),
        "incident.acknowledged": status_parser(incidents.incident, "acknowledged"),
        "incident.unacknowledged": status_parser(incidents.incident, "triggered"),
        "incident.resolved": status_parser(incidents.incident, "resolved"),
        # a resolved incident triggered again: the same alert re-opens (trigger_count + 1)
        "incident.reopened": status_parser(incidents.incident, "triggered", reopened=True),
        CHANGE_EVENT: change_events.parse_change_event,
    }
    ignored_events = frozenset({"pagey.ping"})
    #: the official clients (``pagerduty``, ``pdpyras``) take a base URL and append this path
    webhook_subpaths = frozenset({CHANGE_ENQUEUE_PATH})
    setup_instructions = (
        "Incidents: in PagerDuty, Integrations → Generic Webhooks (v3) → New Webhook. Webhook URL: this "
        "connection's URL. Scope: the services (or account) whose incidents we should see. Event subscription: "
        "incident.triggered, incident.acknowledged, incident.unacknowledged, incident.resolved, incident.reopened. Copy the signing "
        "secret PagerDuty shows once into this connection's signing secret.\n"
        "Change Events: send the exact body you send to https://events.pagerduty.com/v2/change/enqueue to this "
        "connection's URL as well (same JSON, Content-Type: application/json), or to this connection's URL followed "
        f"by {CHANGE_ENQUEUE_PATH}, and enter its routing_key here. With the official Python clients, give this "
        "connection's URL as the base URL: pagerduty.EventsApiV2Client(routing_key, base_url=<this URL>) (it "
        "needs an https URL) or pdpyras.ChangeEventsAPISession(routing_key) with session.url = <this URL>; they "
        f"append /{CHANGE_ENQUEUE_PATH} themselves. "
        "Add custom_details.service (and environment, kind, sha, repository, actor) to map the change; kind is "
        "one of deploy, rollback, config, feature_flag, scale, ci, infra, db_migration... (else custom)."
    )

    def verify(self, headers: Mapping[str, str], raw_body: bytes, secrets: Any) -> None:
        header = headers.get(SIGNATURE_HEADER)
        if header is not None:
            verify_signature(secrets.get("signing_secret"), raw_body, header)
            return
        try:
            payload = parse_json(raw_body)
        except ParseError:
            raise VerificationError(f"{SIGNATURE_HEADER} header missing") from None
        if not change_events.is_change_event(payload):
            raise VerificationError(f"{SIGNATURE_HEADER} header missing")
        routing_key = payload.get("routing_key")
        if not secrets.has("routing_key"):
            raise VerificationError("this connection accepts no Change Events: no routing key is configured")
        if not isinstance(routing_key, str) or not secrets.matches("routing_key", routing_key):
            raise VerificationError("routing_key does not match this connection")

    def event_type(self, headers: Mapping[str, str], payload: Any) -> str:
        if change_events.is_change_event(payload):
            return CHANGE_EVENT
        if not isinstance(payload, Mapping):
            raise ParseError("body must be a JSON object")
        return require_str(payload, "event", "event_type")

    def delivery_key(self, headers: Mapping[str, str], raw_body: bytes, payload: Any) -> str:
        if change_events.is_change_event(payload):
            return change_events.external_id(payload)
        # X-Webhook-Id is the same on every retry; event.id also dedupes across subscriptions
        event = payload.get("event") if isinstance(payload, Mapping) else None
        event_id = event.get("id") if isinstance(event, Mapping) else None
        return headers.get("X-Webhook-Id") or (
            event_id if isinstance(event_id, str) and event_id else super().delivery_key(headers, raw_body, payload)
        )

    def storable_body(self, raw_body: bytes, payload: Any) -> bytes:
        return change_events.redact(payload) if change_events.is_change_event(payload) else raw_body
