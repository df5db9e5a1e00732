"""Slack's interaction payloads, from form body to a verdict click."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import urlencode

import pytest

from integrations.base import ParseError, UnsupportedEvent
from integrations.slack import interaction

PAYLOADS = Path(__file__).parent / "payloads"


def form(name: str) -> bytes:
    return urlencode({"payload": (PAYLOADS / f"{name}.json").read_text()}).encode()


def test_a_caused_it_click_names_the_alert_the_change_and_the_slack_user():
    click = interaction.parse(interaction.payload_of(form("block_actions_caused")))
    assert click == interaction.VerdictClick(
        alert_id=7,
        change_id=41,
        verdict="caused",
        user_id="U04ABCD1234",
        user_name="maria",
        channel_id="C0ONCALL",
        message_ts="1700000001.000100",
        trigger_id="6482163524356.1234.abcdef0123456789",
    )


def test_an_interaction_that_is_not_a_button_click_is_unsupported():
    with pytest.raises(UnsupportedEvent):
        interaction.parse(interaction.payload_of(form("view_submission_unsupported")))


@pytest.mark.parametrize(
    "body",
    [b"", b"payload=", b"payload=%5B%5D", b"payload=not-json", b"other=1", "payload=\udcff".encode("utf-8", "replace")],
)
def test_a_body_without_a_readable_payload_is_a_parse_error(body: bytes):
    with pytest.raises(ParseError):
        interaction.parse(interaction.payload_of(body))


def test_a_button_value_that_is_not_ours_is_a_parse_error():
    payload = json.loads((PAYLOADS / "block_actions_caused.json").read_text())
    payload["actions"][0]["value"] = "something else"
    with pytest.raises(ParseError, match="not ours"):
        interaction.parse(payload)
