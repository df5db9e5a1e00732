"""Fixtures of the push-destination tests: a local Slack, a Slack connection pointed at it, webhooks to post."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

import pytest

from tests.integrations.helpers import post
from tests.notify.fake_slack import TOKEN, FakeSlack

SIGNING_SECRET = "slack-signing-secret"
GENERIC_TOKEN = "generic-token"


@pytest.fixture
def fake_slack(settings):
    with FakeSlack() as fake:
        settings.SLACK_API_URL = fake.url
        yield fake


@pytest.fixture
def slack(connection_factory):
    return connection_factory(
        "slack",
        name="Slack acme",
        clear={"bot_token": TOKEN, "signing_secret": SIGNING_SECRET},
        config={"channel": "#oncall"},
    )


@pytest.fixture
def source(connection_factory):
    """A generic webhook connection the alerts and changes arrive through."""
    return connection_factory("generic", hashed={"token": GENERIC_TOKEN})


def ago(minutes: float) -> str:
    return (datetime.now(UTC) - timedelta(minutes=minutes)).isoformat()


def send_change(client, source, external_id: str, service: str, minutes_ago: float, summary: str, kind="deploy"):
    body = {
        "type": "change",
        "service": service,
        "kind": kind,
        "summary": summary,
        "timestamp": ago(minutes_ago),
        "external_id": external_id,
    }
    return post(client, source, json.dumps(body), {"X-Changetrack-Token": GENERIC_TOKEN})


def send_alert(client, source, external_id: str, service: str, minutes_ago: float, status="triggered", **extra):
    body = {
        "type": "alert",
        "service": service,
        "title": extra.pop("title", f"Errors on {service}"),
        "status": status,
        "timestamp": ago(minutes_ago),
        "external_id": external_id,
        "severity": extra.pop("severity", "critical"),
    }
    return post(client, source, json.dumps(body), {"X-Changetrack-Token": GENERIC_TOKEN})


def click(client, slack_conn, value: str, action: str = "verdict_caused", trigger: str = "t-1", user="maria", **kw):
    """POST a signed Slack button click, the way Slack sends it, to the connection's interactivity URL."""
    payload = {
        "type": "block_actions",
        "user": {"id": "U0MARIA", "username": user, "name": user, "team_id": "T0ACME"},
        "token": "legacy-verification-token",
        "response_url": "https://hooks.slack.com/actions/T0ACME/1/secret",
        "trigger_id": trigger,
        "container": {"type": "message", "message_ts": "1.0", "channel_id": "C0ONCALL"},
        "channel": {"id": "C0ONCALL", "name": "oncall"},
        "actions": [{"action_id": action, "block_id": "b", "type": "button", "value": value, "action_ts": "1.2"}],
    }
    payload.update(kw.pop("extra", {}))
    body = urlencode({"payload": json.dumps(payload)}).encode()
    ts = str(int(kw.pop("at", time.time())))
    secret = kw.pop("secret", SIGNING_SECRET)
    mac = hmac.new(secret.encode(), f"v0:{ts}:".encode() + body, hashlib.sha256).hexdigest()
    return client.post(
        f"/hooks/slack/{slack_conn.pk}/",
        data=body,
        content_type="application/x-www-form-urlencoded",
        headers={"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": f"v0={mac}"},
    )
