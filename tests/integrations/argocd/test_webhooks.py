"""Argo CD notifications (our template body) through the real receiver and pipeline, one test per fixture."""

from __future__ import annotations

import json

import pytest

from changetrack.ingest import pipeline
from changetrack.models import Change, Delivery, Service, ServiceAlias
from integrations import registry
from tests.integrations.helpers import connection_fixture, drain_and_get, fixture_body, last_delivery, post

pytestmark = pytest.mark.django_db
SECRET = "argo-shared-secret"
REV = "4c7e91b2d0f3a5c6e8b9a1d2f3e4c5b6a7d8e9f0"


conn = connection_fixture("argocd", hashed={"token": SECRET}, redis=True)


def send(client, conn, name: str, secret: str = SECRET):
    return post(client, conn, fixture_body("argocd", name), {"X-Changetrack-Token": secret})


def test_a_running_sync_is_a_deploy_in_progress(client, conn):
    assert send(client, conn, "sync_running").status_code == 202
    change = drain_and_get("argocd", f"checkout-api-prod@{REV}")
    assert (change.kind, change.status, change.ended_at) == ("deploy", "in_progress", None)
    assert change.commit_sha == REV and change.repository == "acme/deploy-manifests"


def test_a_succeeded_healthy_sync_updates_the_same_deploy(client, conn):
    svc = Service.objects.create(name="checkout-api", namespace="payments")
    ServiceAlias.objects.create(source="argocd", key="argocd_app", value="checkout-api-prod", service=svc)
    send(client, conn, "sync_running")
    pipeline.drain()
    assert send(client, conn, "sync_succeeded_healthy").status_code == 202
    change = drain_and_get("argocd", f"checkout-api-prod@{REV}")
    assert change.status == "succeeded" and change.details["duration_seconds"] == 97 and change.service == svc
    assert change.actor == "automated" and Change.objects.filter(source="argocd").count() == 1


def test_a_failed_sync_on_a_short_revision_is_failed(client, conn):
    send(client, conn, "sync_failed")
    change = drain_and_get("argocd", "checkout-api-prod@7d1e2f3")
    assert (change.status, change.severity, change.commit_sha, change.release_key) == (
        "failed",
        "warning",
        "7d1e2f3",
        "7d1e2f3",
    )
    assert "failed to apply" in change.details["message"] and change.actor == "dana.kim@example.com"


def test_an_app_deleted_notification_is_stored_as_ignored(client, conn):
    response = send(client, conn, "app_deleted_unsupported")
    assert response.status_code == 202 and last_delivery().status == Delivery.Status.IGNORED


def test_health_turning_healthy_after_the_sync_is_not_dropped_as_a_duplicate(client, conn):
    progressing = {**json.loads(fixture_body("argocd", "sync_succeeded_healthy")), "healthStatus": "Progressing"}
    assert post(client, conn, json.dumps(progressing).encode(), {"X-Changetrack-Token": SECRET}).status_code == 202
    assert send(client, conn, "sync_succeeded_healthy").status_code == 202
    assert send(client, conn, "sync_succeeded_healthy").status_code == 200
    assert drain_and_get("argocd", f"checkout-api-prod@{REV}").status == "succeeded"


@pytest.mark.parametrize("token", ["wrong", SECRET + " ", None])
def test_a_wrong_or_missing_secret_is_rejected(client, conn, token):
    headers = {"X-Changetrack-Token": token} if token is not None else {}
    assert post(client, conn, fixture_body("argocd", "sync_running"), headers).status_code == 401


@pytest.mark.parametrize(
    "mutate",
    [
        lambda p: p.pop("app"),
        lambda p: p.pop("revision"),
        lambda p: p.update(source="flux"),
        lambda p: p.update(startedAt="2024-09-23 19:31"),
        lambda p: p.pop("operationPhase"),
    ],
)
def test_a_malformed_body_is_a_400(client, conn, mutate):
    payload = json.loads(fixture_body("argocd", "sync_succeeded_healthy"))
    mutate(payload)
    response = post(client, conn, json.dumps(payload).encode(), {"X-Changetrack-Token": SECRET})
    assert response.status_code == 400 and Delivery.objects.count() == 0


def test_an_app_without_a_sync_operation_is_recorded_at_the_delivery_time(client, conn):
    response = send(client, conn, "no_operation_state_degraded")
    assert response.status_code == 202
    received = last_delivery().received_at
    change = drain_and_get("argocd", "ledger-api-staging@b3d5f7a9c1e2d4f6a8b0c2e4f6a8b0c2d4e6f8a0")
    assert (change.status, change.severity, change.details["operation_phase"]) == ("failed", "warning", "none")
    assert abs((change.occurred_at - received).total_seconds()) < 5
    assert change.details["time_source"].startswith("delivery")


def test_a_replayed_app_without_a_sync_operation_keeps_its_first_time(client, conn):
    send(client, conn, "no_operation_state_degraded")
    first = drain_and_get("argocd", "ledger-api-staging@b3d5f7a9c1e2d4f6a8b0c2e4f6a8b0c2d4e6f8a0").occurred_at
    stored = json.loads(bytes(last_delivery().body))
    assert stored["changetrackReceivedAt"] and stored["startedAt"] == "<no value>"
    assert registry.get("argocd").parse("sync", stored, {})[0].occurred_at == first  # what a replay reads


def test_an_app_without_a_sync_operation_or_a_sync_revision_is_a_400_saying_so(client, conn):
    response = send(client, conn, "no_operation_state_without_sync_revision_rejected")
    assert response.status_code == 400 and "revision" in response.json()["detail"]
    assert not Delivery.objects.exists()
