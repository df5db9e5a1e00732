"""Slack's v0 request signature: computed here at test time, never stored."""

from __future__ import annotations

import hashlib
import hmac
import time

import pytest
from django.utils.datastructures import CaseInsensitiveMapping

from integrations.base import VerificationError
from integrations.slack import signature

SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
BODY = b"payload=%7B%22type%22%3A%22block_actions%22%7D"


def signed(body: bytes = BODY, secret: str = SECRET, at: float | None = None) -> CaseInsensitiveMapping:
    ts = str(int(at if at is not None else time.time()))
    mac = hmac.new(secret.encode(), f"v0:{ts}:".encode() + body, hashlib.sha256).hexdigest()
    return CaseInsensitiveMapping({"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": f"v0={mac}"})


def test_a_valid_signature_is_accepted():
    signature.verify(signed(), BODY, SECRET, time.time())


def test_slacks_documented_example_is_accepted():
    # https://api.slack.com/authentication/verifying-requests-from-slack (the walk-through's values)
    body = (
        b"token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V"
        b"&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text="
        b"&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN"
        b"&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c"
    )
    headers = CaseInsensitiveMapping(
        {
            "X-Slack-Request-Timestamp": "1531420618",
            "X-Slack-Signature": "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503",
        }
    )
    signature.verify(headers, body, SECRET, 1531420618 + 10)


def test_a_signature_made_with_another_secret_is_refused():
    with pytest.raises(VerificationError, match="does not match"):
        signature.verify(signed(secret="another-secret"), BODY, SECRET, time.time())


@pytest.mark.parametrize("age", [301, 3600, -301])
def test_a_timestamp_more_than_five_minutes_away_is_refused_even_when_correctly_signed(age: int):
    now = time.time()
    with pytest.raises(VerificationError, match="five minutes"):
        signature.verify(signed(at=now - age), BODY, SECRET, now)


def test_a_timestamp_just_under_five_minutes_old_is_accepted():
    now = time.time()
    signature.verify(signed(at=now - 290), BODY, SECRET, now)


def test_a_body_with_one_byte_changed_is_refused():
    headers = signed()
    changed = BODY[:-3] + bytes([BODY[-3] ^ 0x01]) + BODY[-2:]
    with pytest.raises(VerificationError, match="does not match"):
        signature.verify(headers, changed, SECRET, time.time())


@pytest.mark.parametrize(
    "headers",
    [{}, {"X-Slack-Signature": "v0=00"}, {"X-Slack-Request-Timestamp": "1"}, {"X-Slack-Request-Timestamp": "soon"}],
)
def test_missing_or_malformed_signature_headers_are_refused(headers: dict[str, str]):
    full = {"X-Slack-Signature": "v0=00", **headers} if "X-Slack-Request-Timestamp" in headers else headers
    with pytest.raises(VerificationError):
        signature.verify(CaseInsensitiveMapping(full), BODY, SECRET, time.time())


def test_a_connection_without_a_signing_secret_refuses_everything():
    with pytest.raises(VerificationError, match="no signing secret"):
        signature.verify(signed(), BODY, "", time.time())


def test_the_slack_integration_checks_the_connections_signing_secret():
    from changetrack.models.deliveries import SecretStore
    from integrations import registry

    slack = registry.get("slack")
    slack.verify(signed(), BODY, SecretStore({"signing_secret": SECRET}, {}))
    with pytest.raises(VerificationError):
        slack.verify(signed(), BODY, SecretStore({"signing_secret": SECRET[:-1] + "0"}, {}))
