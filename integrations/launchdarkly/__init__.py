"""LaunchDarkly webhooks: the body is an audit-log entry; flag entries become ``feature_flag`` changes.

Signed with ``X-LD-Signature`` (lowercase hex HMAC-SHA256 of the raw body, no prefix); deduped on ``_id``.
LaunchDarkly retries a failed delivery once only, so ``poll()`` (``integrations.launchdarkly.poller``) reads the audit log too.
Docs: https://launchdarkly.com/docs/home/infrastructure/webhooks
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import Any

from integrations.base import (
    ConfigField,
    Integration,
    PollResult,
    PollSession,
    Record,
    Secrets,
    event_field,
    require_str,
    verify_hmac_sha256,
)
from integrations.launchdarkly import poller
from integrations.launchdarkly.records import flag_change


def parse_flag(payload: Any, config: Mapping[str, Any]) -> list[Record]:
    return [flag_change(payload)]


class LaunchDarklyIntegration(Integration):
    slug = "launchdarkly"
    label = "LaunchDarkly"
    emits = ("changes",)
    config_fields = (
        ConfigField(
            "signing_secret",
            "Webhook signing secret",
            secret=True,
            required=True,
            help="The secret of the signed webhook; kept encrypted (needed to compute the HMAC).",
        ),
        ConfigField("api_token", "API access token (reader role, for the audit-log poller)", secret=True),
        ConfigField("api_url", "API URL", help="https://app.launchdarkly.com (default)."),
        ConfigField(
            "spec", "Audit-log resource specifier", help="e.g. proj/*:env/production:flag/* (default: all flags)."
        ),
    )
    parsers = {"flag": parse_flag}
    setup_instructions = (
        "In LaunchDarkly: Integrations → Webhooks → Add. URL: this connection's webhook URL. Check 'Sign this "
        "webhook' and paste the generated secret here. Policy: resources proj/*:env/*:flag/* (all actions). "
        "Flags map to services by flag tag (ServiceAlias key 'flag_tag') or by flag key (key 'flag'). With an "
        "API token the audit log is also polled, because LaunchDarkly retries a delivery only once."
    )

    def verify(self, headers: Mapping[str, str], raw_body: bytes, secrets: Any) -> None:
        verify_hmac_sha256(secrets.get("signing_secret"), raw_body, headers.get("X-LD-Signature"))

    def event_type(self, headers: Mapping[str, str], payload: Any) -> str:
        return event_field(payload, "kind", body="a JSON object (an audit-log entry)")

    def delivery_key(self, headers: Mapping[str, str], raw_body: bytes, payload: Any) -> str:
        return f"launchdarkly:{require_str(payload, '_id')}"

    def poll_ready(self, config: Mapping[str, Any], secrets: Secrets) -> bool:
        return bool(secrets.get("api_token"))

    def poll(
        self, config: Mapping[str, Any], secrets: Secrets, state: Mapping[str, Any], now: datetime, session: PollSession
    ) -> Iterator[PollResult]:
        """See ``integrations.launchdarkly.poller.poll``."""
        return poller.poll(config, secrets, state, now, session)
