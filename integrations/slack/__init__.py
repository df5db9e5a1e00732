"""Slack: alert notices posted with a bot token (``chat.postMessage``, edited with ``chat.update``), and the
"Caused it" / "Unrelated" clicks that come back to the interactivity URL, signed with the app's signing secret.

Incoming webhooks are not used: their messages cannot be edited. Pure parts here (blocks, signature, click
parsing); the sending lives in ``changetrack.notify``.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from integrations.base import ConfigField
from integrations.destination import Destination
from integrations.slack import signature


class SlackIntegration(Destination):
    slug = "slack"
    label = "Slack"
    target_field = "channel"
    url_label = "Interactivity URL (Slack app → Interactivity & Shortcuts → Request URL)"
    config_fields = (
        ConfigField("bot_token", "Bot token (xoxb-…)", secret=True, required=True, help="OAuth scope chat:write"),
        ConfigField(
            "signing_secret", "Signing secret", secret=True, required=True, help="Basic Information → App Credentials"
        ),
        ConfigField("channel", "Default channel", required=True, help="e.g. #oncall; invite the app to it"),
    )
    setup_instructions = (
        "Create a Slack app with the bot scope chat:write, install it and invite it to the channels it posts to. "
        "Paste this connection's URL as the Request URL under Interactivity & Shortcuts."
    )

    def verify(self, headers: Mapping[str, str], raw_body: bytes, secrets: Any) -> None:
        """Slack's v0 signature over the raw body, with a timestamp at most five minutes old."""
        signature.verify(headers, raw_body, secrets.get("signing_secret"), time.time())
