"""One release, one change: the same commit seen by GitHub, Jenkins, Argo CD and a deploy is linked by release_key."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from changetrack.ingest import pipeline
from changetrack.ingest.store import store_records
from changetrack.models import Change
from integrations.base import ChangeRecord, ServiceHint
from tests.integrations.helpers import fixture_json, github_headers, post

pytestmark = pytest.mark.django_db
SHA = "9f2c1e7b4a6d8c0e2f4a6b8c0d2e4f6a8b0c2d4e"
OTHER = "5d4e3f2a3b1f0c9a7d6e5f4a3b2c1d0e9f8a7b6c"
JENKINS_TOKEN = {"X-Changetrack-Token": "jk"}
ARGO_TOKEN = {"X-Changetrack-Token": "ar"}


def test_a_push_a_jenkins_build_an_argo_sync_and_a_deploy_of_one_commit_are_linked(
    client, connection_factory, redis_client
):
    gh = connection_factory("github", clear={"webhook_secret": "gh"})
    jenkins = connection_factory("jenkins", hashed={"token": "jk"})
    argo = connection_factory("argocd", hashed={"token": "ar"})
    for event in ("push", "deployment"):
        body = _body("github", event)
        assert post(client, gh, body, github_headers("gh", event, body)).status_code == 202
    build = fixture_json("jenkins", "build_finalized")
    build["build"]["scm"]["commit"] = SHA[:7]  # a pipeline that only knows the short SHA
    assert post(client, jenkins, json.dumps(build).encode(), JENKINS_TOKEN).status_code == 202
    sync = {
        **fixture_json("argocd", "sync_succeeded_healthy"),
        "revision": SHA[:7],
        "repoURL": "https://github.com/acme/checkout-api.git",
    }
    assert post(client, argo, json.dumps(sync).encode(), ARGO_TOKEN).status_code == 202
    other = {**sync, "revision": OTHER, "startedAt": "2024-09-24T08:00:00Z", "finishedAt": "2024-09-24T08:01:00Z"}
    assert post(client, argo, json.dumps(other).encode(), ARGO_TOKEN).status_code == 202
    pipeline.drain()
    # the Kubernetes collector's rollout of the image built from the commit (stored like every source does)
    store_records(
        [
            ChangeRecord(
                source="kubernetes",
                external_id="prod/payments/Deployment/checkout-api/rev-42",
                kind="deploy",
                occurred_at=datetime(2024, 9, 23, 19, 32, tzinfo=UTC),
                summary="checkout-api image 2.14.0",
                service=ServiceHint(name="checkout-api", namespace="payments", cluster="prod", create=True),
                commit_sha=SHA[:12],
                repository="acme/checkout-api",
            )
        ]
    )
    linked = Change.objects.filter(release_key=SHA[:7])
    assert sorted(linked.values_list("source", "kind")) == [
        ("argocd", "deploy"),
        ("github", "commit"),
        ("github", "deploy"),
        ("jenkins", "ci"),
        ("kubernetes", "deploy"),
    ]
    assert Change.objects.get(source="argocd", commit_sha=OTHER).release_key == OTHER[:7]


def _body(slug: str, name: str) -> bytes:
    return json.dumps(fixture_json(slug, name)).encode()


def _drain_after(client, conn, body: bytes, headers: dict[str, str]) -> None:
    assert post(client, conn, body, headers).status_code == 202
    pipeline.drain()


def test_a_late_older_update_never_overwrites_a_newer_state(client, connection_factory, redis_client):
    gh = connection_factory("github", clear={"webhook_secret": "gh"})
    jenkins = connection_factory("jenkins", hashed={"token": "jk"})
    argo = connection_factory("argocd", hashed={"token": "ar"})

    def github(event: str, name: str) -> None:
        body = _body("github", name)
        _drain_after(client, gh, body, github_headers("gh", event, body))

    github("deployment_status", "deployment_status_success")
    github("deployment", "deployment")  # the creation event arrives after its success status
    github("workflow_run", "workflow_run_completed")
    github("workflow_run", "workflow_run_in_progress")
    _drain_after(client, jenkins, _body("jenkins", "build_finalized"), JENKINS_TOKEN)
    _drain_after(client, jenkins, _body("jenkins", "build_started"), JENKINS_TOKEN)
    _drain_after(client, argo, _body("argocd", "sync_succeeded_healthy"), ARGO_TOKEN)
    _drain_after(client, argo, _body("argocd", "sync_running"), ARGO_TOKEN)
    statuses = dict(Change.objects.filter(kind__in=["deploy", "ci"]).values_list("external_id", "status"))
    assert statuses == {
        "deployment:acme/checkout-api:1502938475": "succeeded",
        "run:acme/checkout-api:11012345678": "succeeded",
        "checkout-api-deploy#318": "succeeded",
        "checkout-api-prod@4c7e91b2d0f3a5c6e8b9a1d2f3e4c5b6a7d8e9f0": "succeeded",
    }


def test_a_retried_argo_sync_of_the_same_revision_moves_the_change_again(client, connection_factory, redis_client):
    argo = connection_factory("argocd", hashed={"token": "ar"})
    failed = {**fixture_json("argocd", "sync_failed")}
    _drain_after(client, argo, json.dumps(failed).encode(), ARGO_TOKEN)
    retry = {
        **failed,
        "operationPhase": "Running",
        "healthStatus": "Progressing",
        "startedAt": "2024-09-23T20:10:00Z",
        "finishedAt": "",
    }
    _drain_after(client, argo, json.dumps(retry).encode(), ARGO_TOKEN)
    assert Change.objects.get(source="argocd").status == "in_progress"
