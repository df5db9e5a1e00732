"""PagerDuty Webhooks v3 and Change Events through the real receiver and the pipeline to Alert/Change rows."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from changetrack.models import Alert, Change, Delivery, Service
from integrations import registry
from integrations.base import VerificationError
from tests.integrations.helpers import (
    VECTOR_BODY,
    VECTOR_PD_HEX,
    VECTOR_PD_KEY,
    connection_fixture,
    drain,
    fixture_body,
    fixture_headers,
    fixture_json,
    hmac_hex,
    post,
    post_and_drain,
)

pytestmark = pytest.mark.django_db
SIGNING = "pd-signing-secret-1"
ROUTING_KEY = "e93facc04764012d7bfb002500d5d1a6"
INCIDENT = "Q2W8X4Y6Z0ABCD"


conn = connection_fixture("pagerduty", clear={"signing_secret": SIGNING}, hashed={"routing_key": ROUTING_KEY})


def _signed(name: str, body: bytes | None = None, key: str = SIGNING) -> tuple[bytes, dict[str, str]]:
    body = fixture_body("pagerduty", name) if body is None else body
    return body, {**fixture_headers("pagerduty", name), "X-PagerDuty-Signature": f"v1={hmac_hex(key, body)}"}


def _deliver(client, conn, name: str) -> int:
    return post_and_drain(client, conn, *_signed(name))


def _incident() -> Alert:
    return Alert.objects.get(source="pagerduty", external_id=INCIDENT)


def test_the_shared_test_vector_verifies():
    class Secrets:
        def get(self, name):
            return VECTOR_PD_KEY

    assert hmac_hex(VECTOR_PD_KEY, VECTOR_BODY) == VECTOR_PD_HEX
    registry.get("pagerduty").verify(
        {"X-PagerDuty-Signature": f"v1={hmac_hex(VECTOR_PD_KEY, VECTOR_BODY)}"}, VECTOR_BODY, Secrets()
    )
    with pytest.raises(VerificationError):
        registry.get("pagerduty").verify({"X-PagerDuty-Signature": f"v1={VECTOR_PD_HEX[:-2]}"}, VECTOR_BODY, Secrets())


def test_incident_triggered_opens_an_alert_for_the_pagerduty_service(client, conn, redis_client):
    assert _deliver(client, conn, "incident_triggered") == 202
    alert = _incident()
    assert alert.status == "triggered" and alert.title == "Checkout p99 latency > 800ms (prod)"
    assert alert.started_at == datetime(2024, 9, 23, 19, 41, 17, tzinfo=UTC)
    assert alert.severity == "error"  # urgency high, priority P2
    assert alert.service is None and alert.service_hint["name"] == "checkout-api"
    assert ["pagerduty_service", "checkout-api"] in alert.service_hint["keys"]
    assert alert.url == "https://acme.pagerduty.com/incidents/Q2W8X4Y6Z0ABCD"
    assert alert.labels["incident_key"] == "checkout-latency-prod" and alert.labels["number"] == 4812


def test_incident_triggered_maps_through_a_pagerduty_service_alias(client, conn, redis_client):
    from changetrack.models import ServiceAlias

    service = Service.objects.create(name="checkout", namespace="payments")
    ServiceAlias.objects.create(service=service, source="pagerduty", key="pagerduty_service", value="checkout-api")
    _deliver(client, conn, "incident_triggered")
    assert _incident().service_id == service.pk


@pytest.mark.parametrize(
    ("fixture", "status", "at"),
    [
        ("incident_acknowledged", "acknowledged", datetime(2024, 9, 23, 19, 44, 2, 871000, tzinfo=UTC)),
        ("incident_resolved", "resolved", datetime(2024, 9, 23, 20, 14, 5, 512000, tzinfo=UTC)),
    ],
)
def test_an_incident_event_moves_the_alert_to_its_status(client, conn, redis_client, fixture, status, at):
    _deliver(client, conn, "incident_triggered")
    assert _deliver(client, conn, fixture) == 202
    alert = _incident()
    assert alert.status == status
    assert getattr(alert, f"{status}_at") == at


def test_incident_reopened_reopens_the_resolved_alert(client, conn, redis_client):
    _deliver(client, conn, "incident_triggered")
    _deliver(client, conn, "incident_resolved")
    assert _deliver(client, conn, "incident_reopened") == 202
    alert = _incident()
    assert alert.status == "triggered" and alert.resolved_at is None and alert.trigger_count == 2


def test_resolved_before_triggered_ends_resolved(client, conn, redis_client):
    _deliver(client, conn, "incident_resolved")
    _deliver(client, conn, "incident_triggered")
    alert = _incident()
    assert alert.status == "resolved" and alert.trigger_count == 1
    assert alert.started_at == datetime(2024, 9, 23, 19, 41, 17, tzinfo=UTC)
    assert Alert.objects.count() == 1


def test_incident_annotated_is_stored_as_ignored(client, conn, redis_client):
    assert _deliver(client, conn, "incident_annotated_unsupported") == 202
    assert Delivery.objects.get().status == "ignored"
    assert not Alert.objects.exists()


def test_pagey_ping_is_accepted_and_makes_nothing(client, conn, redis_client):
    assert _deliver(client, conn, "pagey_ping_ignored") == 202
    assert Delivery.objects.get().records == 0
    assert not Alert.objects.exists()


def test_a_change_event_becomes_a_custom_change_with_its_commit_and_links(client, conn, redis_client):
    assert post(client, conn, fixture_body("pagerduty", "change_event")).status_code == 202
    drain()
    change = Change.objects.get(source="pagerduty")
    assert change.kind == "custom" and change.summary == "Deployed checkout-api v2.14.0 to prod"
    assert change.occurred_at == datetime(2024, 9, 23, 19, 30, 2, tzinfo=UTC)
    assert change.actor == "dkim" and change.commit_sha == "9f2c1e7"
    assert change.service is None and change.service_hint["env"] == "production"
    assert ["pagerduty_change_source", "github-actions/acme/checkout-api"] in change.service_hint["keys"]
    assert change.links == [
        {"href": "https://github.com/acme/checkout-api/actions/runs/10987654321", "text": "Workflow run"}
    ]


def test_a_change_event_with_a_kind_and_service_maps_to_the_service(client, conn, redis_client):
    service = Service.objects.create(name="checkout-api", namespace="payments")
    assert post(client, conn, fixture_body("pagerduty", "change_event_rollback")).status_code == 202
    drain()
    change = Change.objects.get(source="pagerduty")
    assert change.kind == "rollback" and change.service_id == service.pk
    assert change.repository == "acme/checkout-api" and change.release_key == "4b1d0e9"


def test_a_change_event_without_a_service_uses_the_connection_default(client, connection_factory, redis_client):
    conn = connection_factory(
        "pagerduty", hashed={"routing_key": ROUTING_KEY}, config={"change_service": "checkout-api"}
    )
    post(client, conn, fixture_body("pagerduty", "change_event"))
    drain()
    assert Change.objects.get(source="pagerduty").service_hint["name"] == "checkout-api"


def test_the_routing_key_is_never_stored_in_clear(client, conn, redis_client):
    post(client, conn, fixture_body("pagerduty", "change_event"))
    drain()
    delivery = Delivery.objects.get()
    assert ROUTING_KEY.encode() not in bytes(delivery.body)
    assert ROUTING_KEY not in json.dumps(delivery.headers) + delivery.delivery_key
    assert ROUTING_KEY not in json.dumps(Change.objects.get().details)
    assert ROUTING_KEY not in json.dumps(conn.secret_hashes) + conn.secrets_encrypted


def test_a_resent_change_event_is_one_change(client, conn, redis_client):
    assert post(client, conn, fixture_body("pagerduty", "change_event")).status_code == 202
    assert post(client, conn, fixture_body("pagerduty", "change_event")).status_code == 200
    drain()
    assert Change.objects.filter(source="pagerduty").count() == 1


@pytest.mark.parametrize("routing_key", ["e93facc04764012d7bfb002500d5d1a7", "", None], ids=["wrong", "empty", "null"])
def test_a_change_event_with_a_wrong_routing_key_is_a_401(client, conn, redis_client, routing_key):
    body = dict(fixture_json("pagerduty", "change_event"), routing_key=routing_key)
    assert post(client, conn, json.dumps(body)).status_code == 401


def test_a_connection_without_a_routing_key_refuses_change_events(client, connection_factory, redis_client):
    conn = connection_factory("pagerduty", clear={"signing_secret": SIGNING})
    assert post(client, conn, fixture_body("pagerduty", "change_event")).status_code == 401


def test_any_of_several_signatures_may_match(client, conn, redis_client):
    body, headers = _signed("incident_triggered")
    other = hmac_hex("the-old-secret", body)
    headers["X-PagerDuty-Signature"] = f"v1={other},{headers['X-PagerDuty-Signature']}"
    assert post(client, conn, body, headers).status_code == 202


def _bad_signature_cases() -> dict[str, dict[str, str] | None]:
    body = fixture_body("pagerduty", "incident_triggered")
    good = hmac_hex(SIGNING, body)
    return {
        "wrong secret": {"X-PagerDuty-Signature": f"v1={hmac_hex('not-the-secret', body)}"},
        "truncated": {"X-PagerDuty-Signature": f"v1={good[:-4]}"},
        "another body": {
            "X-PagerDuty-Signature": f"v1={hmac_hex(SIGNING, fixture_body('pagerduty', 'incident_resolved'))}"
        },
        "unknown version": {"X-PagerDuty-Signature": f"v2={good}"},
        "empty": {"X-PagerDuty-Signature": ""},
        "missing": None,
    }


@pytest.mark.parametrize("case", list(_bad_signature_cases()))
def test_it_rejects_a_bad_or_missing_signature(client, conn, redis_client, case):
    headers = _bad_signature_cases()[case] or {}
    response = post(client, conn, fixture_body("pagerduty", "incident_triggered"), headers)
    assert response.status_code == 401
    assert not Delivery.objects.exists()


def test_a_connection_without_a_signing_secret_refuses_webhooks(client, connection_factory, redis_client):
    conn = connection_factory("pagerduty", hashed={"routing_key": ROUTING_KEY})
    body, headers = _signed("incident_triggered")
    assert post(client, conn, body, headers).status_code == 401


def test_a_replayed_delivery_is_a_duplicate(client, conn, redis_client):
    body, headers = _signed("incident_triggered")
    assert post(client, conn, body, headers).status_code == 202
    assert post(client, conn, body, headers).status_code == 200
    drain()
    assert _incident().trigger_count == 1


def test_the_same_event_from_another_subscription_is_applied_once(client, conn, redis_client):
    body, headers = _signed("incident_triggered")
    post(client, conn, body, headers)
    post(client, conn, body, {**headers, "X-Webhook-Id": "another-subscription-delivery"})
    drain()
    assert Alert.objects.get().trigger_count == 1


def test_malformed_json_with_a_valid_signature_is_a_400(client, conn, redis_client):
    body = b'{"event": {"id": "x", '
    _, headers = _signed("incident_triggered", body)
    assert post(client, conn, body, headers).status_code == 400


@pytest.mark.parametrize("path", [("data", "id"), ("data", "title"), ("data", "service"), ("occurred_at",), ("id",)])
def test_an_incident_missing_a_required_field_is_a_400(client, conn, redis_client, path):
    payload = fixture_json("pagerduty", "incident_triggered")
    target = payload["event"]
    for key in path[:-1]:
        target = target[key]
    del target[path[-1]]
    body, headers = _signed("incident_triggered", json.dumps(payload).encode())
    response = post(client, conn, body, headers)
    assert response.status_code == 400
    assert path[-1] in response.json()["detail"]


def test_a_change_event_without_a_summary_is_a_400(client, conn, redis_client):
    body = fixture_json("pagerduty", "change_event")
    del body["payload"]["summary"]
    assert post(client, conn, json.dumps(body)).status_code == 400


def test_config_fields_keep_the_routing_key_hashed_and_the_signing_secret_secret():
    fields = {f.name: (f.secret, f.hashed) for f in registry.get("pagerduty").config_fields}
    assert fields["routing_key"] == (True, True) and fields["signing_secret"] == (True, False)


def test_incident_unacknowledged_puts_the_alert_back_to_triggered(client, conn, redis_client):
    _deliver(client, conn, "incident_triggered")
    _deliver(client, conn, "incident_acknowledged")
    assert _deliver(client, conn, "incident_unacknowledged") == 202
    alert = _incident()
    assert (alert.status, alert.acknowledged_at, alert.trigger_count) == ("triggered", None, 1)
