"""The interactivity endpoint's fixed order: 404 → 413 → 401 → 400 → stored → 200, before any processing."""

from __future__ import annotations

import json
import time

import pytest

from changetrack.models import Interaction
from tests.notify.conftest import click

pytestmark = pytest.mark.django_db

VALUE = '{"alert":1,"change":2}'


def test_a_signed_click_is_stored_pending_and_answered_200_with_an_empty_body(client, slack, redis_client):
    response = click(client, slack, VALUE, trigger="t-9")
    assert (response.status_code, response.content) == (200, b"")
    row = Interaction.objects.get()
    assert (row.status, row.trigger_id, row.connection_id) == ("pending", "t-9", slack.pk)


def test_a_stored_click_keeps_no_verification_token_or_response_url(client, slack, redis_client):
    click(client, slack, VALUE, trigger="t-9")
    stored = json.loads(Interaction.objects.get().body)
    assert "token" not in stored and "response_url" not in stored
    assert stored["actions"][0]["value"] == VALUE


def test_a_credential_anywhere_else_in_a_click_is_scrubbed_before_it_is_stored(client, slack, redis_client):
    state = {"values": {"b": {"note": {"type": "plain_text_input", "value": "DB_PASSWORD=hunter2-planted"}}}}
    assert click(client, slack, VALUE, trigger="t-9", extra={"state": state}).status_code == 200
    stored = Interaction.objects.get().body
    assert "hunter2-planted" not in stored and "DB_PASSWORD=hmac-sha256:" in stored


def test_the_same_click_sent_twice_is_stored_once(client, slack, redis_client):
    assert click(client, slack, VALUE, trigger="t-9").status_code == 200
    assert click(client, slack, VALUE, trigger="t-9").status_code == 200
    assert Interaction.objects.count() == 1


@pytest.mark.parametrize(
    ("kwargs", "detail"),
    [({"secret": "wrong"}, "does not match"), ({"at": time.time() - 600}, "five minutes")],
)
def test_a_click_with_a_wrong_secret_or_a_stale_timestamp_is_refused_with_401(client, slack, kwargs, detail):
    response = click(client, slack, VALUE, **kwargs)
    assert response.status_code == 401 and response["Content-Type"] == "application/problem+json"
    assert detail in response.json()["detail"]
    assert not Interaction.objects.exists()


def test_an_unknown_or_disabled_connection_is_404(client, slack, connection_factory):
    generic = connection_factory("generic", hashed={"token": "t"})
    assert click(client, generic, VALUE).status_code == 404
    slack.enabled = False
    slack.save()
    assert click(client, slack, VALUE).status_code == 404


def test_a_signed_body_without_a_payload_is_400(client, slack):
    import hashlib
    import hmac

    body = b"nothing=here"
    ts = str(int(time.time()))
    mac = hmac.new(b"slack-signing-secret", f"v0:{ts}:".encode() + body, hashlib.sha256).hexdigest()
    response = client.post(
        f"/hooks/slack/{slack.pk}/",
        data=body,
        content_type="application/x-www-form-urlencoded",
        headers={"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": f"v0={mac}"},
    )
    assert response.status_code == 400 and "payload" in response.json()["detail"]


def test_a_body_over_the_limit_is_413(client, slack, settings):
    settings.WEBHOOK_MAX_BODY_BYTES = 100
    assert click(client, slack, "x" * 500).status_code == 413


def test_a_get_is_not_allowed(client, slack):
    assert client.get(f"/hooks/slack/{slack.pk}/").status_code == 405
