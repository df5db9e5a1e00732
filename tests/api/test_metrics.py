"""GET /api/v1/metrics/delivery: the delivery keys over a period, as the Delivery page shows them."""

from __future__ import annotations

import pytest
from django.core.management import call_command

from changetrack.models import Alert, Change, Feedback, Service

pytestmark = pytest.mark.django_db


@pytest.fixture
def demo(db):
    call_command("load_demo", verbosity=0)


def test_the_delivery_metrics_give_totals_teams_services_and_days(api, demo):
    response = api.get("/api/v1/metrics/delivery")
    assert response.status_code == 200
    body = response.json()
    deploys = Change.objects.filter(kind="deploy", service__isnull=False).count()
    assert body["total"]["deploys"] == deploys
    assert sum(d["deploys"] for d in body["daily"]) == deploys and len(body["daily"]) == 31
    assert {t["team"] for t in body["teams"]} >= {"platform", "payments"}
    assert body["total"]["time_to_restore_minutes_median"] == 25.0  # the demo's resolved checkout incident


def test_a_confirmed_cause_counts_as_a_failed_deploy_of_its_service(api, demo):
    deploy = Change.objects.get(external_id="demo-rest-deploy")
    alert = Alert.objects.get(external_id="demo-dd-cycle-1")
    Feedback.objects.create(alert=alert, change_id=deploy.pk, verdict="caused")
    body = api.get("/api/v1/metrics/delivery", {"service": deploy.service_id}).json()
    (row,) = body["services"]
    assert row["service"] == {"id": deploy.service_id, "name": "rest-api", "namespace": "shop", "cluster": "prod-us"}
    assert row["failed_deploys"] == 1 and body["total"]["failed_deploys"] == 1
    assert row["lead_time_minutes_median"] == 25.0


def test_a_team_scope_and_a_period(api, demo):
    team = api.get("/api/v1/metrics/delivery", {"team": "payments"}).json()
    assert {r["team"] for r in team["services"]} == {"payments"}
    assert set(Service.objects.filter(team="payments").values_list("name", flat=True)) >= {
        r["service"]["name"] for r in team["services"]
    }
    empty = api.get(
        "/api/v1/metrics/delivery", {"since": "2020-01-01T00:00:00Z", "until": "2020-01-02T00:00:00Z"}
    ).json()
    assert empty["total"]["deploys"] == 0 and empty["total"]["change_failure_rate"] is None


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"since": "2026-11-21T10:00:00"}, "since"),  # no offset
        ({"since": "2026-11-22T00:00:00Z", "until": "2026-11-21T00:00:00Z"}, "since"),
        ({"since": "2020-01-01T00:00:00Z", "until": "2026-01-01T00:00:00Z"}, "since"),  # too long
        ({"service": "abc"}, "service"),
        ({"service": "0"}, "service"),
    ],
)
def test_bad_parameters_are_a_400_naming_the_field(api, params, field):
    response = api.get("/api/v1/metrics/delivery", params)
    assert response.status_code == 400
    assert response["Content-Type"].startswith("application/problem+json")
    assert field in {e["field"] for e in response.json()["errors"]}


def test_metrics_need_a_token_with_read(make_api):
    assert make_api(()).get("/api/v1/metrics/delivery").status_code in (401, 403)
    assert make_api(("write",)).get("/api/v1/metrics/delivery").status_code == 403
