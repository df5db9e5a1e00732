"""Opsgenie outgoing webhooks through the real receiver and the pipeline: alias-keyed alert lifecycle."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from changetrack.models import Alert, Delivery, Service
from integrations import registry
from tests.integrations.helpers import basic, connection_fixture, fixture_deliverer, fixture_json, post

pytestmark = pytest.mark.django_db
SECRET = "og-shared-secret-1"
AUTH = {"X-Changetrack-Token": SECRET}
ALIAS = "checkout-api-error-rate-prod"


conn = connection_fixture("opsgenie", hashed={"token": SECRET})
_deliver = fixture_deliverer("opsgenie", AUTH)


def test_create_opens_an_alert_keyed_by_its_alias(client, conn, redis_client):
    assert _deliver(client, conn, "create") == 202
    alert = Alert.objects.get(source="opsgenie", external_id=ALIAS)
    assert alert.status == "triggered" and alert.severity == "error"
    assert alert.title == "[prod] checkout-api error rate > 5%"
    assert alert.started_at == datetime(2024, 9, 23, 19, 38, 41, 4000, tzinfo=UTC)
    assert alert.service is None and alert.service_hint["name"] == "checkout-api"
    assert alert.details["tiny_id"] == "1842" and alert.details["details"] == {"monitor": "48213377", "env": "prod"}
    assert alert.labels["team"] == "payments"


def test_create_maps_to_the_service_named_by_the_entity(client, conn, redis_client):
    service = Service.objects.create(name="checkout-api", namespace="payments")
    _deliver(client, conn, "create")
    assert Alert.objects.get(source="opsgenie").service_id == service.pk


def test_acknowledge_acknowledges_the_alert(client, conn, redis_client):
    _deliver(client, conn, "create")
    assert _deliver(client, conn, "acknowledge") == 202
    alert = Alert.objects.get(source="opsgenie")
    assert alert.status == "acknowledged" and alert.acknowledged_at.date().isoformat() == "2024-09-23"


def test_close_resolves_the_alert(client, conn, redis_client):
    _deliver(client, conn, "create")
    _deliver(client, conn, "acknowledge")
    assert _deliver(client, conn, "close") == 202
    alert = Alert.objects.get(source="opsgenie")
    assert alert.status == "resolved"
    assert abs((alert.resolved_at - datetime(2024, 9, 23, 20, 23, 5, 117000, tzinfo=UTC)).total_seconds()) < 0.001


def test_add_note_is_stored_as_ignored(client, conn, redis_client):
    assert _deliver(client, conn, "add_note_unsupported") == 202
    assert Delivery.objects.get().status == "ignored"
    assert not Alert.objects.exists()


def test_create_with_service_tags_and_an_integer_priority(client, conn, redis_client):
    assert _deliver(client, conn, "create_priority_int") == 202
    alert = Alert.objects.get(source="opsgenie", external_id="0d4b7e1c-2f3a-4b5c-9d8e-7f6a5b4c3d2e-1727140000000")
    assert alert.severity == "critical"
    assert (alert.service_hint["name"], alert.service_hint["env"], alert.service_hint["namespace"]) == (
        "ledger",
        "prod",
        "payments",
    )


def test_a_create_after_a_close_reopens_the_same_alias(client, conn, redis_client):
    _deliver(client, conn, "create")
    _deliver(client, conn, "close")
    again = fixture_json("opsgenie", "create")
    again["alert"].update(alertId="9f8e7d6c-new-1727130000000", createdAt=1727130000000, updatedAt=1727130000000000000)
    _deliver(client, conn, "create", body=json.dumps(again).encode())
    alert = Alert.objects.get(source="opsgenie")
    assert alert.status == "triggered" and alert.trigger_count == 2


def test_a_replayed_action_is_a_duplicate(client, conn, redis_client):
    assert _deliver(client, conn, "create") == 202
    assert _deliver(client, conn, "create") == 200
    assert Delivery.objects.count() == 1


def test_basic_auth_with_the_secret_is_accepted(client, conn, redis_client):
    assert _deliver(client, conn, "create", {"Authorization": basic("opsgenie", SECRET)}) == 202


@pytest.mark.parametrize(
    "headers",
    [
        {"X-Changetrack-Token": "wrong"},
        {"X-Changetrack-Token": SECRET[:5]},
        {},
    ],
    ids=["wrong secret", "truncated secret", "missing header"],
)
def test_it_rejects_a_missing_or_wrong_secret(client, conn, redis_client, headers):
    assert _deliver(client, conn, "create", headers) == 401


def test_a_connection_without_a_secret_refuses_everything(client, connection_factory, redis_client):
    conn = connection_factory("opsgenie")
    assert _deliver(client, conn, "create", AUTH) == 401


def test_malformed_json_is_a_400(client, conn, redis_client):
    assert post(client, conn, b"{action: Create}", AUTH).status_code == 400


@pytest.mark.parametrize("field", ["alertId", "message", "updatedAt"])
def test_an_alert_missing_a_required_field_is_a_400(client, conn, redis_client, field):
    body = fixture_json("opsgenie", "create")
    del body["alert"][field]
    response = post(client, conn, json.dumps(body), AUTH)
    assert response.status_code == 400 and field in response.json()["detail"]


def test_the_secret_is_stored_hashed():
    assert {f.name: f.hashed for f in registry.get("opsgenie").config_fields} == {"token": True}


def test_unacknowledge_puts_the_alert_back_to_triggered(client, conn, redis_client):
    _deliver(client, conn, "create")
    _deliver(client, conn, "acknowledge")
    assert _deliver(client, conn, "unacknowledge") == 202
    alert = Alert.objects.get(source="opsgenie")
    assert (alert.status, alert.acknowledged_at, alert.trigger_count) == ("triggered", None, 1)


def test_delete_of_an_open_alert_resolves_it(client, conn, redis_client):
    _deliver(client, conn, "create")
    assert _deliver(client, conn, "delete") == 202
    alert = Alert.objects.get(source="opsgenie")
    assert alert.status == "resolved"
    assert abs((alert.resolved_at - datetime(2024, 9, 23, 19, 53, 24, 7000, tzinfo=UTC)).total_seconds()) < 0.001
