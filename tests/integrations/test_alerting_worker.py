"""Alerting webhooks across the real queue: the receiver's kick reaches a real Celery worker that drains."""

from __future__ import annotations

import pytest

from changetrack.models import Alert, Delivery
from tests.integrations.helpers import fixture_body, fixture_headers, hmac_hex, post
from tests.waiting import eventually

pytestmark = pytest.mark.django_db(transaction=True)


def test_datadog_and_pagerduty_deliveries_are_processed_by_the_worker(client, connection_factory, celery_worker):
    datadog = connection_factory("datadog", hashed={"token": "dd"})
    pagerduty = connection_factory("pagerduty", clear={"signing_secret": "pd"})
    for name in ("triggered", "re_triggered", "recovered"):
        assert post(client, datadog, fixture_body("datadog", name), {"X-Changetrack-Token": "dd"}).status_code == 202
    body = fixture_body("pagerduty", "incident_triggered")
    headers = {
        **fixture_headers("pagerduty", "incident_triggered"),
        "X-PagerDuty-Signature": f"v1={hmac_hex('pd', body)}",
    }
    assert post(client, pagerduty, body, headers).status_code == 202

    assert eventually(lambda: not Delivery.objects.filter(status="pending").exists())
    dd = Alert.objects.get(source="datadog")
    assert (dd.status, dd.trigger_count) == ("resolved", 2)
    assert Alert.objects.get(source="pagerduty").status == "triggered"
    assert set(Delivery.objects.values_list("status", flat=True)) == {"processed"}
