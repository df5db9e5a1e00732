"""Datadog webhooks (our payload template) through the real receiver and the pipeline to Alert rows."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from changetrack.models import Alert, Delivery, Service
from integrations import registry
from integrations.datadog import PAYLOAD_TEMPLATE
from tests.integrations.helpers import drain, fixture_deliverer, fixture_json, post

pytestmark = pytest.mark.django_db
SECRET = "dd-shared-secret-1"
AUTH = {"X-Changetrack-Token": SECRET}


@pytest.fixture
def conn(connection_factory):
    return connection_factory("datadog", hashed={"token": SECRET})


_deliver = fixture_deliverer("datadog", AUTH)


def test_a_triggered_notification_opens_an_alert_cycle(client, conn, redis_client):
    assert _deliver(client, conn, "triggered") == 202
    alert = Alert.objects.get(source="datadog", external_id="5e1f0b8fa31c47c3a2b9d17c0f6e2a44")
    assert alert.status == "triggered" and alert.trigger_count == 1
    assert alert.title == "p99 latency above 800ms"
    assert alert.severity == "error"
    assert alert.started_at == datetime(2024, 9, 23, 20, 30, 55, tzinfo=UTC)
    assert alert.service is None  # no such service yet: kept unmapped, with its hint
    assert alert.service_hint["name"] == "checkout" and alert.service_hint["env"] == "prod"
    assert ["datadog_monitor", "48213377"] in alert.service_hint["keys"]
    assert alert.labels["team"] == "payments"
    assert alert.url == "https://app.datadoghq.com/event/event?id=7791243388120456712"
    assert alert.details["priority"] == "P2" and alert.details["transition"] == "Triggered"


def test_a_triggered_notification_maps_to_a_known_service_by_its_tags(client, conn, redis_client):
    service = Service.objects.create(name="checkout", namespace="shop")
    _deliver(client, conn, "triggered")
    assert Alert.objects.get(source="datadog").service_id == service.pk


def test_a_re_triggered_notification_alone_still_makes_an_alert(client, conn, redis_client):
    assert _deliver(client, conn, "re_triggered") == 202
    alert = Alert.objects.get(source="datadog", external_id="5e1f0b8fa31c47c3a2b9d17c0f6e2a44")
    assert alert.status == "triggered"


def test_a_renotify_counts_as_a_retrigger_of_the_open_cycle(client, conn, redis_client):
    _deliver(client, conn, "triggered")
    assert _deliver(client, conn, "renotify") == 202
    alert = Alert.objects.get(source="datadog")
    assert alert.trigger_count == 2 and alert.status == "triggered"


def test_a_recovered_notification_resolves_the_cycle(client, conn, redis_client):
    _deliver(client, conn, "triggered")
    assert _deliver(client, conn, "recovered") == 202
    alert = Alert.objects.get(source="datadog")
    assert alert.status == "resolved"
    assert alert.resolved_at == datetime(2024, 9, 23, 21, 20, 55, tzinfo=UTC)
    assert alert.title == "p99 latency above 800ms"


def test_a_warn_notification_is_an_open_degraded_alert_with_warning_severity(client, conn, redis_client):
    assert _deliver(client, conn, "warn") == 202
    alert = Alert.objects.get(source="datadog", external_id="9a0b1c2d3e4f50617283940a1b2c3d4e")
    assert (alert.status, alert.severity, alert.details["state"]) == ("triggered", "warning", "warn")
    assert alert.service_hint["name"] == "ledger" and alert.service_hint["namespace"] == "payments"
    assert alert.service_hint["cluster"] == "prod-eu"


def test_a_no_data_notification_is_an_open_degraded_alert_without_a_service(client, conn, redis_client):
    assert _deliver(client, conn, "no_data") == 202
    alert = Alert.objects.get(source="datadog", external_id="0f1e2d3c4b5a69788796a5b4c3d2e1f0")
    assert (alert.status, alert.severity, alert.details["state"]) == ("triggered", "warning", "no_data")
    assert alert.service is None and "name" not in alert.service_hint


def test_a_null_transition_is_stored_as_ignored_and_makes_nothing(client, conn, redis_client):
    assert _deliver(client, conn, "null_transition_unsupported") == 202
    assert Delivery.objects.get().status == "ignored"
    assert not Alert.objects.exists()


def test_triggered_re_triggered_recovered_is_one_alert_counted_twice_and_resolved(client, conn, redis_client):
    for name in ("triggered", "re_triggered", "recovered"):
        assert _deliver(client, conn, name) == 202
    alert = Alert.objects.get(source="datadog")
    assert alert.trigger_count == 2
    assert alert.status == "resolved" and alert.resolved_at is not None


def test_a_p1_alert_is_critical(client, conn, redis_client):
    body = dict(fixture_json("datadog", "triggered"), priority="P1")
    post(client, conn, json.dumps(body), AUTH)
    drain()
    assert Alert.objects.get(source="datadog").severity == "critical"


def test_a_retry_of_the_same_notification_is_a_duplicate_and_not_counted(client, conn, redis_client):
    _deliver(client, conn, "triggered")
    assert _deliver(client, conn, "re_triggered") == 202
    assert _deliver(client, conn, "re_triggered") == 200
    assert Alert.objects.get(source="datadog").trigger_count == 2


def test_the_secret_works_as_a_bearer_token_too(client, conn, redis_client):
    assert _deliver(client, conn, "triggered", {"Authorization": f"Bearer {SECRET}"}) == 202


@pytest.mark.parametrize(
    "headers",
    [
        {"X-Changetrack-Token": "wrong"},
        {"X-Changetrack-Token": SECRET[:-1]},
        {"Authorization": "Bearer wrong"},
        {},
    ],
    ids=["wrong secret", "truncated secret", "wrong bearer", "missing header"],
)
def test_it_rejects_a_missing_or_wrong_secret(client, conn, redis_client, headers):
    assert _deliver(client, conn, "triggered", headers) == 401
    assert not Delivery.objects.exists()


def test_malformed_json_is_a_400(client, conn, redis_client):
    assert post(client, conn, b'{"id": "1", "transition": ', AUTH).status_code == 400


@pytest.mark.parametrize("missing", ["date", "title"])
def test_a_notification_missing_a_required_field_is_a_400(client, conn, redis_client, missing):
    body = fixture_json("datadog", "triggered")
    del body[missing]
    response = post(client, conn, json.dumps(body), AUTH)
    assert response.status_code == 400
    assert missing in response.json()["detail"]


def test_a_body_with_no_transition_title_or_alert_type_is_a_400(client, conn, redis_client):
    body = fixture_json("datadog", "triggered")
    del body["transition"], body["title"], body["alert_type"]
    response = post(client, conn, json.dumps(body), AUTH)
    assert response.status_code == 400 and "transition" in response.json()["detail"]


@pytest.mark.parametrize("missing", ["cycle_key", "id", "transition"])
def test_a_notification_missing_a_derivable_field_is_still_an_alert(client, conn, redis_client, missing):
    body = fixture_json("datadog", "triggered")
    del body[missing]
    assert _deliver(client, conn, "triggered", body=json.dumps(body).encode()) == 202
    alert = Alert.objects.get(source="datadog")
    assert alert.status == "triggered" and alert.title == "p99 latency above 800ms"


def test_an_object_where_a_variable_is_expected_is_a_400(client, conn, redis_client):
    body = dict(fixture_json("datadog", "triggered"), scope={"env": "prod"})
    response = post(client, conn, json.dumps(body), AUTH)
    assert response.status_code == 400 and "scope" in response.json()["detail"]


def test_datadogs_default_payload_opens_and_resolves_an_alert_for_the_scope_in_its_title(client, conn, redis_client):
    service = Service.objects.create(name="checkout", namespace="shop")
    assert _deliver(client, conn, "default_payload_triggered") == 202
    alert = Alert.objects.get(source="datadog")
    assert (alert.status, alert.title, alert.service_id) == ("triggered", "p99 latency above 800ms", service.pk)
    assert alert.details["identity"] == "title_and_scope" and alert.details["scope"] == "service:checkout,env:prod"
    assert _deliver(client, conn, "default_payload_recovered") == 202
    alert.refresh_from_db()
    assert alert.status == "resolved" and Alert.objects.count() == 1


def test_alert_variables_under_other_names_are_read(client, conn, redis_client):
    assert _deliver(client, conn, "alert_variables_triggered") == 202
    alert = Alert.objects.get(source="datadog")
    assert (alert.severity, alert.title, alert.details["monitor_id"]) == (
        "critical",
        "p99 latency above 800ms",
        "48213377",
    )
    assert alert.details["identity"] == "monitor_and_scope" and alert.labels["team"] == "payments"


def test_the_setup_instructions_show_the_documented_template():
    integration = registry.get("datadog")
    assert PAYLOAD_TEMPLATE in integration.setup_instructions
    rendered = PAYLOAD_TEMPLATE
    for variable in sorted(
        {w for w in PAYLOAD_TEMPLATE.replace('"', " ").split() if w.startswith("$")}, key=len, reverse=True
    ):
        rendered = rendered.replace(variable, "x")
    assert set(json.loads(rendered)) == set(fixture_json("datadog", "triggered"))
    fields = {f.name: (f.secret, f.hashed) for f in integration.config_fields}
    assert fields["token"] == (True, True)
    assert fields["api_key"] == fields["app_key"] == (True, False)


def test_a_monitor_with_only_kubernetes_agent_tags_maps_by_its_deployment(client, conn, redis_client):
    service = Service.objects.create(name="ledger", namespace="payments")
    payload = fixture_json("datadog", "triggered")
    payload["title"] = "[Triggered on {kube_deployment:ledger,kube_namespace:payments}] Pods restarting"
    payload["scope"] = "kube_deployment:ledger, kube_namespace:payments"
    payload["tags"] = "env:prod,kube_namespace:payments,team:payments"
    assert post(client, conn, json.dumps(payload), AUTH).status_code == 202
    drain()
    alert = Alert.objects.get(source="datadog")
    assert alert.service_id == service.pk and alert.title == "Pods restarting"
    assert alert.service_hint["name"] == "ledger" and alert.service_hint["namespace"] == "payments"
    assert not any(key == "datadog_service" for key, _ in alert.service_hint["keys"])  # no service: tag given
