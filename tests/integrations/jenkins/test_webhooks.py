"""Jenkins Notification plugin deliveries through the real receiver and pipeline, one test per fixture."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta

import pytest

from changetrack.ingest import pipeline
from changetrack.models import Change, Connection, Delivery, Service, ServiceAlias
from tests.integrations.helpers import connection_fixture, drain_and_get, fixture_body, post

pytestmark = pytest.mark.django_db
SECRET = "jenkins-shared-secret"
SHA = "9f2c1e7b4a6d8c0e2f4a6b8c0d2e4f6a8b0c2d4e"


conn = connection_fixture("jenkins", hashed={"token": SECRET}, redis=True)


def basic(password: str) -> str:
    return "Basic " + base64.b64encode(f"jenkins:{password}".encode()).decode()


def send(client, conn, name: str, secret: str = SECRET):
    # The plugin only supports credentials in the URL, which the HTTP client sends as Basic auth.
    return post(client, conn, fixture_body("jenkins", name), {"Authorization": basic(secret)})


def test_the_secret_is_stored_only_as_a_hash(conn):
    stored = Connection.objects.get(pk=conn.pk)
    assert SECRET not in json.dumps(stored.secret_hashes) and stored.secrets_encrypted == ""


def test_a_started_build_is_a_ci_change_in_progress(client, conn):
    Service.objects.create(name="checkout-api", namespace="payments", repository="acme/checkout-api")
    assert send(client, conn, "build_started").status_code == 202
    change = drain_and_get("jenkins", "checkout-api-deploy#318")
    assert (change.kind, change.status, change.ended_at) == ("ci", "in_progress", None)
    assert (
        change.commit_sha == SHA and change.repository == "acme/checkout-api" and change.service.name == "checkout-api"
    )


def test_a_finalized_build_updates_the_same_change_with_result_and_duration(client, conn):
    send(client, conn, "build_started")
    pipeline.drain()
    assert send(client, conn, "build_finalized").status_code == 202
    change = drain_and_get("jenkins", "checkout-api-deploy#318")
    assert change.status == "succeeded" and change.details["duration_seconds"] == 184
    assert change.details["phase"] == "FINALIZED" and change.details["files"] == [
        "config/timeouts.yaml",
        "src/checkout/client.py",
    ]
    assert change.actor == "Dana Kim" and Change.objects.filter(source="jenkins").count() == 1


def test_a_completed_failed_build_is_failed(client, conn):
    send(client, conn, "build_completed_failure")
    change = drain_and_get("jenkins", "checkout-api-deploy#319")
    assert (change.status, change.severity, change.details["result"]) == ("failed", "warning", "FAILURE")


def test_a_queued_build_makes_nothing(client, conn):
    assert send(client, conn, "build_queued_ignored").status_code == 202
    pipeline.drain()
    assert Change.objects.count() == 0


def test_the_token_header_is_accepted_too(client, conn):
    response = post(client, conn, fixture_body("jenkins", "build_started"), {"X-Changetrack-Token": SECRET})
    assert response.status_code == 202


@pytest.mark.parametrize("auth", [basic("wrong"), basic(SECRET[:-1]), "Basic !!!", "Bearer " + SECRET, None])
def test_a_wrong_or_missing_secret_is_rejected(client, conn, auth):
    headers = {"Authorization": auth} if auth else {}
    assert post(client, conn, fixture_body("jenkins", "build_started"), headers).status_code == 401
    assert Delivery.objects.count() == 0


def test_the_same_phase_of_the_same_build_is_a_duplicate(client, conn):
    assert send(client, conn, "build_finalized").status_code == 202
    assert send(client, conn, "build_finalized").status_code == 200
    assert send(client, conn, "build_started").status_code == 202


@pytest.mark.parametrize(
    "mutate",
    [
        lambda p: p.pop("name"),
        lambda p: p["build"].pop("number"),
        lambda p: p["build"].update(number="318"),
        lambda p: p["build"].pop("status"),
        lambda p: p["build"].update(timestamp=None),
    ],
)
def test_a_malformed_build_is_a_400(client, conn, mutate):
    payload = json.loads(fixture_body("jenkins", "build_finalized"))
    mutate(payload)
    response = post(client, conn, json.dumps(payload).encode(), {"Authorization": basic(SECRET)})
    assert response.status_code == 400 and Delivery.objects.count() == 0


START = datetime(2024, 9, 23, 15, 53, 20, tzinfo=UTC)
END = START + timedelta(milliseconds=184223)
CHECKOUT_MAIN_12 = "acme/checkout-api/main#12"


@pytest.mark.parametrize("phase", ["multibranch_completed", "multibranch_finalized"])
def test_a_finished_build_starts_at_its_timestamp_minus_its_duration(client, conn, phase):
    assert send(client, conn, phase).status_code == 202
    change = drain_and_get("jenkins", CHECKOUT_MAIN_12)
    # FINALIZED is sent after post-build steps: its derived start is late by that time (1.9 s here), never later
    assert START <= change.occurred_at <= START + timedelta(seconds=2)
    assert change.ended_at - change.occurred_at == timedelta(milliseconds=184223)


def test_a_build_seen_from_its_start_keeps_the_start_and_ends_at_start_plus_duration(client, conn):
    for phase in ("multibranch_started", "multibranch_completed", "multibranch_finalized"):
        assert send(client, conn, phase).status_code == 202
        pipeline.drain()  # phases come minutes apart
    change = drain_and_get("jenkins", CHECKOUT_MAIN_12)
    assert abs(change.occurred_at - START) < timedelta(seconds=1)
    assert abs(change.ended_at - END) < timedelta(seconds=3) and change.status == "succeeded"


def test_the_same_branch_and_number_in_two_multibranch_repositories_are_two_builds(client, conn):
    assert send(client, conn, "multibranch_completed").status_code == 202
    assert send(client, conn, "multibranch_other_repo_completed").status_code == 202
    pipeline.drain()
    builds = dict(Change.objects.filter(source="jenkins").values_list("external_id", "repository"))
    assert builds == {CHECKOUT_MAIN_12: "acme/checkout-api", "acme/billing-api/main#12": "acme/billing-api"}


def test_a_job_alias_on_the_full_name_maps_a_branch_build_to_its_service(client, conn):
    service = Service.objects.create(name="billing", namespace="payments")
    ServiceAlias.objects.create(service=service, key="jenkins_job", value="acme/billing-api/main")
    send(client, conn, "multibranch_other_repo_completed")
    assert drain_and_get("jenkins", "acme/billing-api/main#12").service == service
