"""Outgoing webhook: the alert notice as JSON to a URL, for Teams (through a workflow), custom bots and the like.

Each request carries ``X-Changetrack-Timestamp`` and ``X-Changetrack-Signature: sha256=<hex>``, the HMAC-SHA256
of ``{timestamp}.{body}`` keyed by the connection's signing secret (so a receiver can refuse replays), and
``Idempotency-Key`` (the same for every retry of one version of one alert's notice).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

from integrations.base import ConfigField
from integrations.destination import AlertNotice, Destination

SIGNATURE_HEADER = "X-Changetrack-Signature"
TIMESTAMP_HEADER = "X-Changetrack-Timestamp"


def body(notice: AlertNotice, event: str) -> bytes:
    """The request body: ``{"event": "alert.announced" | "alert.updated", "alert": {...}}``."""
    return json.dumps({"event": event, "alert": notice.as_json()}, separators=(",", ":"), sort_keys=True).encode()


def sign(secret: str, timestamp: str, raw_body: bytes) -> str:
    """The ``X-Changetrack-Signature`` value for ``raw_body`` sent at ``timestamp`` (epoch seconds)."""
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + raw_body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def headers(secret: str, timestamp: str, raw_body: bytes, idempotency_key: str) -> dict[str, Any]:
    return {
        "Content-Type": "application/json",
        TIMESTAMP_HEADER: timestamp,
        SIGNATURE_HEADER: sign(secret, timestamp, raw_body),
        "Idempotency-Key": idempotency_key,
    }


class WebhookIntegration(Destination):
    slug = "webhook"
    label = "Outgoing webhook"
    target_field = "url"
    config_fields = (
        ConfigField("url", "URL", required=True, help="where each alert notice is POSTed as JSON"),
        ConfigField(
            "signing_secret",
            "Signing secret",
            secret=True,
            required=True,
            help="HMAC-SHA256 key of X-Changetrack-Signature; leave blank to generate one",
        ),
    )
    setup_instructions = (
        "Give the URL that receives the JSON. Verify X-Changetrack-Signature (sha256= HMAC of "
        "'{X-Changetrack-Timestamp}.{body}') and deduplicate on Idempotency-Key."
    )
