"""The webhook receiver: fixed order, fixed status codes, nothing stored from a rejected request."""

import json
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from django.test import override_settings

from changetrack.ingest.receiver import LAST_DELIVERY_RESOLUTION
from changetrack.models import Connection, Delivery
from tests.ingest.test_scrubbing import _connection

pytestmark = pytest.mark.django_db
TOKEN = "s3cret-token"


def change_body(external_id="rel-1", **over):
    body = {
        "type": "change",
        "service": {"name": "api", "namespace": "shop", "cluster": "prod"},
        "kind": "deploy",
        "summary": "Deploy api 1.2",
        "timestamp": "2026-11-21T10:04:00Z",
        "external_id": external_id,
    }
    body.update(over)
    return json.dumps(body)


@pytest.fixture
def conn(connection_factory, redis_client):
    return connection_factory(hashed={"token": TOKEN})


def post(client, path, body, token=TOKEN, **extra):
    headers = {"HTTP_X_CHANGETRACK_TOKEN": token} if token else {}
    return client.post(path, body, content_type="application/json", **headers, **extra)


def test_it_accepts_a_valid_delivery_with_202_and_stores_it_pending(client, conn):
    response = post(client, conn.webhook_path, change_body())
    assert response.status_code == 202
    delivery = Delivery.objects.get()
    assert delivery.status == "pending" and delivery.event_type == "change"
    assert json.loads(bytes(delivery.body))["external_id"] == "rel-1"


def test_an_unknown_connection_is_404(client, conn):
    response = post(client, f"/hooks/generic/{uuid.uuid4()}/", change_body())
    assert response.status_code == 404
    assert Delivery.objects.count() == 0


def test_a_connection_under_another_integration_slug_is_404(client, conn):
    assert post(client, f"/hooks/github/{conn.pk}/", change_body()).status_code == 404


def test_a_disabled_connection_is_404(client, conn):
    conn.enabled = False
    conn.save()
    assert post(client, conn.webhook_path, change_body()).status_code == 404
    assert Delivery.objects.count() == 0


@override_settings(WEBHOOK_MAX_BODY_BYTES=200)
def test_a_body_over_the_limit_is_413(client, conn):
    response = post(client, conn.webhook_path, change_body(summary="x" * 500))
    assert response.status_code == 413
    assert "limit" in response.json()["detail"]
    assert Delivery.objects.count() == 0


@pytest.mark.parametrize("token", ["wrong", "", None, TOKEN[:-1]])
def test_a_missing_or_wrong_secret_is_401(client, conn, token):
    assert post(client, conn.webhook_path, change_body(), token=token).status_code == 401
    assert Delivery.objects.count() == 0


def test_malformed_json_is_400_with_a_clear_detail(client, conn):
    response = post(client, conn.webhook_path, b"{not json")
    assert response.status_code == 400
    assert "not valid JSON" in response.json()["detail"]
    assert Delivery.objects.count() == 0


def test_a_missing_required_field_is_400_naming_it(client, conn):
    body = json.loads(change_body())
    del body["summary"]
    response = post(client, conn.webhook_path, json.dumps(body))
    assert response.status_code == 400
    assert "summary" in response.json()["detail"]


def test_invalid_utf8_is_400(client, conn):
    assert post(client, conn.webhook_path, b'{"type": "\xff\xfe"}').status_code == 400


def test_an_unsupported_event_is_202_and_stored_as_ignored(client, conn):
    response = post(client, conn.webhook_path, json.dumps({"type": "heartbeat"}))
    assert response.status_code == 202
    assert Delivery.objects.get().status == "ignored"


def test_a_duplicate_delivery_is_200_and_not_stored_twice(client, conn):
    assert post(client, conn.webhook_path, change_body()).status_code == 202
    second = post(client, conn.webhook_path, change_body())
    assert second.status_code == 200 and second.json()["status"] == "duplicate"
    assert Delivery.objects.count() == 1


def test_get_is_not_allowed(client, conn):
    assert client.get(conn.webhook_path).status_code == 405


def test_the_secret_header_is_never_stored(client, conn):
    post(client, conn.webhook_path, change_body(), HTTP_AUTHORIZATION="Bearer abc")
    stored = json.dumps(Delivery.objects.get().headers)
    assert TOKEN not in stored and "Bearer abc" not in stored


def test_a_signed_delivery_sets_the_connections_last_delivery_and_a_bad_signature_does_not(client, redis_client):
    body = (Path(__file__).parent.parent / "integrations" / "github" / "fixtures" / "deployment.json").read_bytes()
    conn, signing = _connection("github")

    def send(delivery: str, signed: bytes = body):
        headers = {"X-GitHub-Event": "deployment", "X-GitHub-Delivery": delivery, **signing(signed)}
        return client.post(conn.webhook_path, data=body, content_type="application/json", headers=headers)

    def last_delivery():
        conn.refresh_from_db()
        return conn.last_delivery_at

    assert send("d-0", signed=b"another body").status_code == 401
    assert last_delivery() is None and not Delivery.objects.exists()

    assert send("d-1").status_code == 202
    first = last_delivery()
    assert first is not None and first == Delivery.objects.get().received_at
    assert send("d-1").status_code == 200  # a duplicate
    # a second delivery within the resolution leaves the row alone; one after it moves the time
    assert send("d-2").status_code == 202 and last_delivery() == first
    assert send("d-2b").status_code == 202 and last_delivery() == first
    Connection.objects.filter(pk=conn.pk).update(last_delivery_at=first - LAST_DELIVERY_RESOLUTION - timedelta(1))
    assert send("d-3").status_code == 202
    assert last_delivery() == Delivery.objects.order_by("-received_at").first().received_at > first
