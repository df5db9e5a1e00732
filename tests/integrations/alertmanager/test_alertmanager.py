"""Alertmanager webhook v4 groups through the real receiver and the pipeline: one Alert per alert instance."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from changetrack.models import Alert, Cluster, Delivery, Service
from integrations import registry
from integrations.alertmanager import label_fingerprint
from tests.integrations.helpers import basic, connection_fixture, fixture_deliverer, fixture_json, post

pytestmark = pytest.mark.django_db
SECRET = "am-bearer-secret-1"
BEARER = {"Authorization": f"Bearer {SECRET}"}
CRASHING = "a3f9c1d2e4b5f607:2024-09-23T19:52:31.118000+00:00"
RECOVERED = "0b7e2c94d1a8f356:2024-09-23T19:40:02.004000+00:00"


conn = connection_fixture("alertmanager", hashed={"token": SECRET})
_deliver = fixture_deliverer("alertmanager", BEARER)


def test_a_firing_group_makes_one_alert_per_alert_with_its_own_status(client, conn, redis_client):
    assert _deliver(client, conn, "group_firing") == 202
    firing = Alert.objects.get(source="alertmanager", external_id=CRASHING)
    resolved = Alert.objects.get(source="alertmanager", external_id=RECOVERED)
    assert firing.status == "triggered" and firing.severity == "critical"
    assert firing.title == "Pod payments/checkout-api-7d9f8b6c5-x2k4q is crash looping"
    assert firing.started_at == datetime(2024, 9, 23, 19, 52, 31, 118000, tzinfo=UTC)
    assert firing.service_hint["name"] == "checkout-api" and firing.service_hint["namespace"] == "payments"
    assert firing.labels["pod"] == "checkout-api-7d9f8b6c5-x2k4q"
    assert firing.url.startswith("http://prometheus.monitoring.svc:9090/graph")
    assert resolved.status == "resolved"
    assert resolved.resolved_at == datetime(2024, 9, 23, 19, 55, 2, 4000, tzinfo=UTC)


def test_a_resolved_group_resolves_the_firing_alert_and_changes_nothing_else(client, conn, redis_client):
    _deliver(client, conn, "group_firing")
    assert _deliver(client, conn, "group_resolved") == 202
    assert Alert.objects.filter(source="alertmanager").count() == 2
    firing = Alert.objects.get(external_id=CRASHING)
    assert firing.status == "resolved" and firing.trigger_count == 1
    assert firing.resolved_at == datetime(2024, 9, 23, 20, 7, 31, 118000, tzinfo=UTC)
    assert Alert.objects.get(external_id=RECOVERED).resolved_at == datetime(2024, 9, 23, 19, 55, 2, 4000, tzinfo=UTC)


def test_service_labels_map_the_alert_to_the_service_in_its_cluster(client, conn, redis_client):
    cluster = Cluster.objects.create(name="prod-eu")
    service = Service.objects.create(cluster=cluster, namespace="pipeline", name="data-processor")
    Service.objects.create(namespace="pipeline", name="data-processor")  # same name elsewhere: not chosen
    assert _deliver(client, conn, "service_labels_firing") == 202
    alert = Alert.objects.get(source="alertmanager")
    assert alert.service_id == service.pk and alert.severity == "critical"
    assert alert.service_hint["cluster"] == "prod-eu"


def test_a_version_3_payload_is_stored_as_ignored(client, conn, redis_client):
    assert _deliver(client, conn, "version_3_unsupported") == 202
    assert Delivery.objects.get().status == "ignored"
    assert not Alert.objects.exists()


def test_a_re_sent_group_changes_nothing(client, conn, redis_client):
    _deliver(client, conn, "group_firing")
    assert _deliver(client, conn, "group_firing") == 200  # identical body: a duplicate delivery
    resent = fixture_json("alertmanager", "group_firing")
    resent["truncatedAlerts"] = 0
    resent["receiver"] = "change-tracker-repeat"  # a repeat_interval re-send that is not byte-identical
    assert _deliver(client, conn, "group_firing", body=json.dumps(resent).encode()) == 202
    assert Alert.objects.filter(source="alertmanager").count() == 2
    assert Alert.objects.get(external_id=CRASHING).trigger_count == 1
    assert Delivery.objects.filter(status="processed").count() == 2


def test_a_firing_resent_after_the_resolution_does_not_reopen_the_alert(client, conn, redis_client):
    _deliver(client, conn, "group_firing")
    _deliver(client, conn, "group_resolved")
    late = fixture_json("alertmanager", "group_firing")
    late["receiver"] = "late"
    _deliver(client, conn, "group_firing", body=json.dumps(late).encode())
    assert Alert.objects.get(external_id=CRASHING).status == "resolved"


def test_the_same_alert_firing_again_later_is_a_new_instance(client, conn, redis_client):
    _deliver(client, conn, "group_firing")
    again = fixture_json("alertmanager", "group_firing")
    again["alerts"][0]["startsAt"] = "2024-09-23T21:00:00Z"
    _deliver(client, conn, "group_firing", body=json.dumps(again).encode())
    assert Alert.objects.filter(source="alertmanager", external_id__startswith="a3f9c1d2e4b5f607:").count() == 2


def test_basic_auth_with_the_secret_as_password_is_accepted(client, conn, redis_client):
    assert _deliver(client, conn, "group_firing", {"Authorization": basic("alertmanager", SECRET)}) == 202


def test_basic_auth_checks_the_user_name_when_one_is_configured(client, connection_factory, redis_client):
    conn = connection_factory("alertmanager", clear={"basic_username": "am"}, hashed={"token": SECRET})
    assert _deliver(client, conn, "group_firing", {"Authorization": basic("someone", SECRET)}) == 401
    assert _deliver(client, conn, "group_firing", {"Authorization": basic("am", SECRET)}) == 202


@pytest.mark.parametrize(
    "headers",
    [
        {"Authorization": "Bearer wrong"},
        {"Authorization": f"Bearer {SECRET[:-3]}"},
        {"Authorization": basic("alertmanager", "wrong")},
        {"Authorization": "Basic !!!not-base64"},
        {"Authorization": f"Token {SECRET}"},
        {},
    ],
    ids=["wrong bearer", "truncated bearer", "wrong basic", "garbled basic", "unknown scheme", "missing"],
)
def test_it_rejects_missing_or_wrong_credentials(client, conn, redis_client, headers):
    assert _deliver(client, conn, "group_firing", headers) == 401
    assert not Delivery.objects.exists()


def test_malformed_json_is_a_400(client, conn, redis_client):
    assert post(client, conn, b'{"version": "4", "alerts": [', BEARER).status_code == 400


@pytest.mark.parametrize("field", ["startsAt", "labels", "status"])
def test_a_group_whose_alerts_all_miss_a_required_field_is_a_400(client, conn, redis_client, field):
    body = fixture_json("alertmanager", "group_firing")
    for alert in body["alerts"]:
        del alert[field]
    response = post(client, conn, json.dumps(body), BEARER)
    assert response.status_code == 400 and field in response.json()["detail"]


def test_a_group_without_alerts_is_a_400(client, conn, redis_client):
    body = fixture_json("alertmanager", "group_firing")
    del body["alerts"]
    assert post(client, conn, json.dumps(body), BEARER).status_code == 400


def test_the_secret_is_stored_hashed():
    fields = {f.name: (f.secret, f.hashed) for f in registry.get("alertmanager").config_fields}
    assert fields["token"] == (True, True)


def test_a_zero_end_time_is_unknown_and_the_alert_resolves_at_its_start(client, conn, redis_client):
    assert _deliver(client, conn, "zero_ends_at_resolved") == 202
    cart = Alert.objects.get(source="alertmanager", title="High 5xx rate on cart")
    assert cart.status == "resolved" and cart.resolved_at == datetime(2024, 10, 2, 8, 14, 5, 520000, tzinfo=UTC)
    assert Alert.objects.get(title="High 5xx rate on orders").status == "triggered"


def test_an_alert_without_fingerprint_gets_the_one_alertmanager_computes_from_its_labels(client, conn, redis_client):
    assert _deliver(client, conn, "no_fingerprint_firing") == 202
    alert = Alert.objects.get(source="alertmanager")
    labels = fixture_json("alertmanager", "no_fingerprint_firing")["alerts"][0]["labels"]
    assert alert.external_id.startswith(label_fingerprint(labels) + ":")
    # prometheus/common's own test vector for its label-set hash
    assert int(label_fingerprint({"name": "garland, briggs", "fear": "love is not enough"}), 16) == 5799056148416392346


def test_one_bad_alert_does_not_drop_its_siblings(client, conn, redis_client):
    assert _deliver(client, conn, "one_bad_alert_firing") == 202
    alerts = Alert.objects.filter(source="alertmanager")
    assert sorted(a.title for a in alerts) == ["High 5xx rate on cart", "High 5xx rate on orders"]
    assert all(
        a.details["skipped_alerts"] == ["alerts[1]: alert status must be firing or resolved, not 'pending'"]
        for a in alerts
    )


def test_a_group_with_no_readable_alert_is_a_400(client, conn, redis_client):
    payload = fixture_json("alertmanager", "one_bad_alert_firing")
    payload["alerts"] = payload["alerts"][1:2]
    response = post(client, conn, json.dumps(payload).encode(), BEARER)
    assert response.status_code == 400 and "pending" in response.json()["detail"]
