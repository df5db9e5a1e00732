"""Grafana-managed alerts (webhook contact point, version "1") through the real receiver and pipeline."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from changetrack.models import Alert, Cluster, Delivery, Service
from tests.integrations.helpers import basic, connection_fixture, fixture_body, fixture_deliverer, post

pytestmark = pytest.mark.django_db
SECRET = "grafana-contact-point-secret"
BEARER = {"Authorization": f"Bearer {SECRET}"}
LATENCY = "3a7f0c9e2b1d4e58:2024-10-02T08:20:10+00:00"


conn = connection_fixture("grafana", hashed={"token": SECRET})
_deliver = fixture_deliverer("grafana", BEARER)


def test_a_firing_grafana_alert_is_an_alert_with_grafanas_own_fields(client, conn, redis_client):
    cluster = Cluster.objects.create(name="prod-eu")
    service = Service.objects.create(cluster=cluster, namespace="payments", name="checkout-api")
    assert _deliver(client, conn, "alert_firing") == 202
    alert = Alert.objects.get(source="grafana", external_id=LATENCY)
    assert (alert.status, alert.severity, alert.service_id) == ("triggered", "critical", service.pk)
    assert alert.details["org_id"] == 1 and alert.details["rule_uid"] == "be4k2l9xq7v0wc"
    assert alert.details["values"] == {"A": 0.912, "B": 1}
    assert alert.details["panelURL"].endswith("viewPanel=4") and "silence/new" in alert.details["silenceURL"]
    assert {"href": alert.details["dashboardURL"], "text": "Grafana dashboard"} in alert.links


def test_a_resolved_grafana_alert_resolves_it(client, conn, redis_client):
    _deliver(client, conn, "alert_firing")
    assert _deliver(client, conn, "alert_resolved") == 202
    alert = Alert.objects.get(source="grafana")
    assert alert.status == "resolved" and alert.resolved_at == datetime(2024, 10, 2, 8, 41, 10, tzinfo=UTC)


def test_an_unknown_body_version_is_stored_as_ignored(client, conn, redis_client):
    assert _deliver(client, conn, "version_0_unsupported") == 202
    assert Delivery.objects.get().status == "ignored" and not Alert.objects.exists()


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong"}, {"Authorization": basic("grafana", "x")}])
def test_a_missing_or_wrong_credential_is_a_401(client, conn, redis_client, headers):
    assert post(client, conn, fixture_body("grafana", "alert_firing"), headers).status_code == 401


def test_basic_auth_with_the_secret_is_accepted(client, conn, redis_client):
    assert _deliver(client, conn, "alert_firing", {"Authorization": basic("grafana", SECRET)}) == 202


def test_a_grafana_body_sent_to_an_alertmanager_connection_is_recorded_not_dropped(
    client, connection_factory, redis_client
):
    alertmanager = connection_factory("alertmanager", hashed={"token": SECRET})
    assert _deliver(client, alertmanager, "alert_firing") == 202
    assert Delivery.objects.get().status != "ignored"
    alert = Alert.objects.get(external_id=LATENCY)
    assert alert.source == "grafana" and alert.details["rule_uid"] == "be4k2l9xq7v0wc"


def test_a_grafana_alert_without_values_or_dashboard_keeps_the_rest(client, conn, redis_client):
    body = json.loads(fixture_body("grafana", "alert_firing"))
    for field in ("values", "dashboardURL", "panelURL"):
        body["alerts"][0].pop(field)
    assert _deliver(client, conn, "alert_firing", body=json.dumps(body).encode()) == 202
    alert = Alert.objects.get(source="grafana")
    assert alert.details["values"] == {} and "panelURL" not in alert.details
