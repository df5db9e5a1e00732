"""Parsing Slack's interaction payloads (https://api.slack.com/reference/interaction-payloads/block-actions).

Slack posts ``application/x-www-form-urlencoded`` with one field, ``payload``, holding JSON. Only our two
buttons matter; anything else is an ``UnsupportedEvent``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

from integrations.base import ParseError, UnsupportedEvent, require, require_str
from integrations.slack.blocks import ACTIONS


@dataclass(frozen=True)
class VerdictClick:
    """A click on "Caused it" / "Unrelated": who, on which suspect of which alert, in which message."""

    alert_id: int
    change_id: int
    verdict: str
    user_id: str
    user_name: str
    channel_id: str
    message_ts: str
    trigger_id: str


def payload_of(raw_body: bytes) -> dict[str, Any]:
    """The JSON object in the form field ``payload``; ``ParseError`` when absent or not a JSON object."""
    try:
        fields = parse_qs(raw_body.decode("utf-8"), strict_parsing=False, max_num_fields=20)
    except (UnicodeDecodeError, ValueError):
        raise ParseError("body is not a form-encoded Slack interaction") from None
    values = fields.get("payload") or []
    if len(values) != 1:
        raise ParseError("form field 'payload' missing")
    try:
        payload = json.loads(values[0])
    except (ValueError, RecursionError):
        raise ParseError("form field 'payload' is not JSON") from None
    if not isinstance(payload, dict):
        raise ParseError("form field 'payload' is not a JSON object")
    return payload


#: what a stored click leaves out: the legacy verification token, and the response URL (it posts to the channel)
CREDENTIAL_KEYS = ("token", "response_url", "response_urls")


def storable(payload: dict[str, Any]) -> dict[str, Any]:
    """``payload`` without the keys that work as credentials."""
    return {k: v for k, v in payload.items() if k not in CREDENTIAL_KEYS}


def trigger_id(payload: dict[str, Any]) -> str:
    """Slack's id of this one interaction (a retry of the request carries the same one)."""
    return require_str(payload, "trigger_id")


def parse(payload: dict[str, Any]) -> VerdictClick:
    """The verdict click in ``payload``. ``UnsupportedEvent`` for other interactions; ``ParseError`` for a
    click that does not carry what our buttons put in it."""
    if payload.get("type") != "block_actions":
        raise UnsupportedEvent(f"Slack interaction {str(payload.get('type'))[:50]!r} is not handled")
    actions = require(payload, "actions")
    if not isinstance(actions, list) or not actions:
        raise ParseError("field 'actions' must be a non-empty list")
    action = actions[0]
    verdict = ACTIONS.get(require_str(action, "action_id"))
    if verdict is None:
        raise UnsupportedEvent("not a verdict button")
    try:
        value = json.loads(require_str(action, "value"))
        alert_id, change_id = int(value["alert"]), int(value["change"])
    except (ValueError, TypeError, KeyError):
        raise ParseError("button value is not ours") from None
    user = require(payload, "user")
    name = (user.get("username") or user.get("name") or "") if isinstance(user, dict) else ""
    container = _object(payload.get("container"))
    channel = _object(payload.get("channel"))
    return VerdictClick(
        alert_id=alert_id,
        change_id=change_id,
        verdict=verdict,
        user_id=require_str(user, "id"),
        user_name=str(name)[:80],
        channel_id=str(channel.get("id") or container.get("channel_id") or ""),
        message_ts=str(container.get("message_ts") or ""),
        trigger_id=trigger_id(payload),
    )


def _object(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}
