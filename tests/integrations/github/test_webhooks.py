"""GitHub webhooks through the real receiver and pipeline, one test per fixture, signatures made at test time."""

from __future__ import annotations

import json

import pytest

from changetrack.ingest import pipeline
from changetrack.models import Change, Delivery, Service, ServiceAlias
from integrations.github import GitHubIntegration
from tests.integrations.helpers import (
    FORM,
    connection_fixture,
    drain_and_get,
    fixture_body,
    fixture_request,
    github_headers,
    hmac_hex,
    last_delivery,
    new_delivery_id,
    post,
)

pytestmark = pytest.mark.django_db
SECRET = "gh-secret"
SHA = "9f2c1e7b4a6d8c0e2f4a6b8c0d2e4f6a8b0c2d4e"


conn = connection_fixture("github", clear={"webhook_secret": SECRET}, redis=True)


@pytest.fixture
def service(db):
    return Service.objects.create(name="checkout-api", namespace="payments", repository="acme/checkout-api")


def send(client, conn, event: str, body: bytes, secret: str = SECRET, delivery: str | None = None):
    return post(client, conn, body, github_headers(secret, event, body, delivery))


def test_the_shared_test_vector_verifies():
    body = b'{"event":{"id":"evt-1"}}'
    assert hmac_hex("gh-secret", body) == "9e6d4225fc6bccb3d5bd84a4530f51533a3ac187a75cc40b7d7bc8b024807518"

    class Secrets:
        def get(self, name):
            return "gh-secret"

    GitHubIntegration().verify(
        {"X-Hub-Signature-256": "sha256=9e6d4225fc6bccb3d5bd84a4530f51533a3ac187a75cc40b7d7bc8b024807518"},
        body,
        Secrets(),
    )


def test_a_push_to_the_default_branch_is_one_commit_change_listing_its_commits(client, conn, service):
    response = send(client, conn, "push", fixture_body("github", "push"))
    assert response.status_code == 202
    change = drain_and_get("github", f"commits:acme/checkout-api:{SHA}")
    assert change.kind == "commit" and change.service == service
    assert change.commit_sha == SHA and change.repository == "acme/checkout-api" and change.release_key == SHA[:7]
    assert [c["sha"][:7] for c in change.details["commits"]] == ["5d4e3f2", "9f2c1e7"]
    assert change.details["commits"][1]["files"] == ["config/timeouts.yaml"]
    assert change.actor == "dkim" and "Raise checkout timeout" in change.summary and "+1 more" in change.summary


def test_a_tag_push_is_stored_as_ignored(client, conn):
    response = send(client, conn, "push", fixture_body("github", "push_tag_unsupported"))
    assert response.status_code == 202 and response.json()["status"] == "ignored"
    assert last_delivery().status == Delivery.Status.IGNORED
    pipeline.drain()
    assert Change.objects.count() == 0


def test_a_merged_pull_request_is_a_commit_change_on_its_merge_sha(client, conn, service):
    assert send(client, conn, "pull_request", fixture_body("github", "pull_request_closed_merged")).status_code == 202
    change = drain_and_get("github", "pr:acme/checkout-api#412")
    assert change.kind == "commit" and change.commit_sha == SHA and change.actor == "lee-ops"
    assert change.details["author"] == "dkim" and change.summary.startswith("Merged #412 into main")


def test_an_opened_pull_request_is_ignored(client, conn):
    response = send(client, conn, "pull_request", fixture_body("github", "pull_request_opened_unsupported"))
    assert response.status_code == 202 and last_delivery().status == Delivery.Status.IGNORED


def test_a_deployment_is_a_pending_deploy_change(client, conn, service):
    assert send(client, conn, "deployment", fixture_body("github", "deployment")).status_code == 202
    change = drain_and_get("github", "deployment:acme/checkout-api:1502938475")
    assert (change.kind, change.status, change.ended_at) == ("deploy", "in_progress", None)
    assert change.details["environment"] == "production" and change.commit_sha == SHA and change.actor == "dkim"


def test_a_deployment_status_success_updates_the_same_deploy_change(client, conn, service):
    send(client, conn, "deployment", fixture_body("github", "deployment"))
    pipeline.drain()
    send(client, conn, "deployment_status", fixture_body("github", "deployment_status_success"))
    change = drain_and_get("github", "deployment:acme/checkout-api:1502938475")
    assert change.status == "succeeded" and change.ended_at.isoformat() == "2024-09-23T19:33:40+00:00"
    assert Change.objects.filter(kind="deploy").count() == 1
    assert {"title": "log url", "url": "https://github.com/acme/checkout-api/actions/runs/11012345678"} in change.links


def test_a_deployment_status_failure_marks_the_deploy_failed(client, conn, service):
    send(client, conn, "deployment_status", fixture_body("github", "deployment_status_failure"))
    change = drain_and_get("github", "deployment:acme/checkout-api:1502938475")
    assert (change.status, change.severity) == ("failed", "warning")


def test_a_workflow_run_in_progress_is_a_ci_change_in_progress(client, conn, service):
    send(client, conn, "workflow_run", fixture_body("github", "workflow_run_in_progress"))
    change = drain_and_get("github", "run:acme/checkout-api:11012345678")
    assert (change.kind, change.status, change.ended_at) == ("ci", "in_progress", None)


def test_a_completed_workflow_run_updates_the_ci_change_with_its_duration(client, conn, service):
    send(client, conn, "workflow_run", fixture_body("github", "workflow_run_in_progress"))
    pipeline.drain()
    send(client, conn, "workflow_run", fixture_body("github", "workflow_run_completed"))
    change = drain_and_get("github", "run:acme/checkout-api:11012345678")
    assert change.status == "succeeded" and change.details["duration_seconds"] == 391
    assert Change.objects.filter(kind="ci").count() == 1


def test_a_workflow_run_for_a_pull_request_is_ignored(client, conn):
    response = send(client, conn, "workflow_run", fixture_body("github", "workflow_run_pull_request_unsupported"))
    assert response.status_code == 202 and last_delivery().status == Delivery.Status.IGNORED


def test_a_ping_is_accepted_and_makes_nothing(client, conn):
    assert send(client, conn, "ping", fixture_body("github", "ping_ignored")).status_code == 202
    pipeline.drain()
    assert Change.objects.count() == 0


def test_an_event_we_do_not_use_is_stored_as_ignored(client, conn):
    response = send(client, conn, "check_suite", fixture_body("github", "check_suite_completed_unsupported"))
    assert response.status_code == 202 and last_delivery().status == Delivery.Status.IGNORED


def test_a_change_without_a_mapped_repository_is_stored_unmapped(client, conn):
    send(client, conn, "push", fixture_body("github", "push"))
    change = drain_and_get("github", f"commits:acme/checkout-api:{SHA}")
    assert change.service is None and change.service_hint == {"repository": "acme/checkout-api"}


def test_a_repo_alias_maps_the_repository_to_a_service(client, conn):
    svc = Service.objects.create(name="checkout", namespace="shop")
    ServiceAlias.objects.create(source="github", key="repo", value="acme/checkout-api", service=svc)
    send(client, conn, "push", fixture_body("github", "push"))
    assert drain_and_get("github", f"commits:acme/checkout-api:{SHA}").service == svc


@pytest.mark.parametrize("how", ["wrong secret", "truncated", "other body", "missing", "sha1 only"])
def test_a_bad_or_missing_signature_is_rejected(client, conn, how):
    body = fixture_body("github", "push")
    signature = "sha256=" + hmac_hex(SECRET, body)
    headers = {"X-GitHub-Event": "push", "X-GitHub-Delivery": new_delivery_id()}
    if how == "wrong secret":
        headers["X-Hub-Signature-256"] = "sha256=" + hmac_hex("not-the-secret", body)
    elif how == "truncated":
        headers["X-Hub-Signature-256"] = signature[:-2]
    elif how == "other body":
        headers["X-Hub-Signature-256"] = "sha256=" + hmac_hex(SECRET, body + b" ")
    elif how == "sha1 only":
        headers["X-Hub-Signature"] = "sha1=" + hmac_hex(SECRET, body)[:40]
    assert post(client, conn, body, headers).status_code == 401
    assert Delivery.objects.count() == 0


def test_a_redelivery_with_the_same_delivery_id_is_a_duplicate(client, conn, service):
    body = fixture_body("github", "push")
    delivery = new_delivery_id()
    assert send(client, conn, "push", body, delivery=delivery).status_code == 202
    assert send(client, conn, "push", body, delivery=delivery).status_code == 200
    pipeline.drain()
    assert Delivery.objects.count() == 1 and Change.objects.count() == 1


@pytest.mark.parametrize(
    "body",
    [
        b"{not json",
        b"[]",
        json.dumps({"ref": "refs/heads/main"}).encode(),
        json.dumps({**json.loads(fixture_body("github", "push")), "commits": [{"id": "x"}]}).encode(),
    ],
)
def test_a_malformed_push_is_a_400(client, conn, body):
    response = send(client, conn, "push", body)
    assert response.status_code == 400 and response.json()["detail"]
    assert Delivery.objects.count() == 0


def test_a_delivery_without_an_event_header_is_a_400(client, conn):
    body = fixture_body("github", "push")
    headers = github_headers(SECRET, "push", body)
    del headers["X-GitHub-Event"]
    response = post(client, conn, body, headers)
    assert response.status_code == 400


def test_a_deployment_of_a_repository_running_in_two_clusters_maps_by_environment(client, conn):
    from changetrack.models import Cluster

    prod = Cluster.objects.create(name="prod-us", env="prod,production")
    staging = Cluster.objects.create(name="staging", env="staging")
    in_prod = Service.objects.create(
        cluster=prod, namespace="payments", name="checkout-api", repository="acme/checkout-api"
    )
    Service.objects.create(cluster=staging, namespace="payments", name="checkout-api", repository="acme/checkout-api")
    send(client, conn, "deployment", fixture_body("github", "deployment"))
    send(client, conn, "push", fixture_body("github", "push"))
    assert drain_and_get("github", "deployment:acme/checkout-api:1502938475").service == in_prod
    assert Change.objects.get(kind="commit").service is None  # a push has no environment: not guessed


def test_a_forced_push_to_the_default_branch_is_flagged(client, conn):
    payload = json.loads(fixture_body("github", "push"))
    payload["forced"] = True
    send(client, conn, "push", json.dumps(payload).encode())
    change = drain_and_get("github", f"commits:acme/checkout-api:{SHA}")
    assert change.severity == "warning" and change.details["forced"] is True


def test_a_deployment_made_inactive_by_a_newer_one_stays_succeeded(client, conn, service):
    send(client, conn, "deployment_status", fixture_body("github", "deployment_status_success"))
    pipeline.drain()
    response = send(client, conn, "deployment_status", fixture_body("github", "deployment_status_inactive_unsupported"))
    assert response.status_code == 202 and last_delivery().status == Delivery.Status.IGNORED
    assert drain_and_get("github", "deployment:acme/checkout-api:1502938475").status == "succeeded"


def test_a_form_encoded_push_signed_over_the_form_body_is_the_same_change(client, conn, service):
    body, headers = fixture_request("github", "push_form_encoded")
    assert body.startswith(b"payload=%7B")
    response = post(client, conn, body, {**headers, **github_headers(SECRET, "push", body)})
    assert response.status_code == 202
    change = drain_and_get("github", f"commits:acme/checkout-api:{SHA}")
    assert change.service == service and json.loads(bytes(last_delivery().body))["ref"] == "refs/heads/main"


def test_a_form_encoded_push_signed_over_its_json_only_is_a_401(client, conn, service):
    body, headers = fixture_request("github", "push_form_encoded")
    signed_json = github_headers(SECRET, "push", fixture_body("github", "push_form_encoded"))
    assert post(client, conn, body, {**headers, **signed_json}).status_code == 401


@pytest.mark.parametrize("body", [b"payload=%7B%22ref", b"payload=1&payload=2", b"other=%7B%7D", b"payload=%ZZ"])
def test_a_malformed_form_body_is_a_400(client, conn, body):
    headers = {"Content-Type": FORM, **github_headers(SECRET, "push", body)}
    assert post(client, conn, body, headers).status_code == 400
    assert not Delivery.objects.exists()


def test_an_old_push_without_full_name_names_the_repository_from_owner_and_name(client, conn):
    service = Service.objects.create(name="payments-worker", namespace="payments", repository="acme/payments-worker")
    assert send(client, conn, "push", fixture_body("github", "push_legacy_without_full_name")).status_code == 202
    change = drain_and_get("github", "commits:acme/payments-worker:7c1e9b3a5d2f4e6c8a0b1d3f5e7a9c2b4d6f8e0a")
    assert change.service == service and change.repository == "acme/payments-worker"
