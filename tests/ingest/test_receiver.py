"""The webhook receiver: fixed order, fixed status codes, nothing stored from a rejected request."""

import json
import uuid

import pytest
from django.test import override_settings

from changetrack.models import Delivery

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
