"""One release, one change: the same commit seen by GitHub, Jenkins, Argo CD and a deploy is linked by release_key."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from changetrack.ingest import pipeline
from changetrack.ingest.store import store_records
from changetrack.models import Change
from integrations.base import ChangeRecord, ServiceHint
from tests.integrations.hooks import fixture, hmac_hex, new_delivery_id, post

pytestmark = pytest.mark.django_db
SHA = "9f2c1e7b4a6d8c0e2f4a6b8c0d2e4f6a8b0c2d4e"
OTHER = "5d4e3f2a3b1f0c9a7d6e5f4a3b2c1d0e9f8a7b6c"


def test_a_push_a_jenkins_build_an_argo_sync_and_a_deploy_of_one_commit_are_linked(
    client, connection_factory, redis_client
):
    gh = connection_factory("github", clear={"webhook_secret": "gh"})
    jenkins = connection_factory("jenkins", hashed={"token": "jk"})
    argo = connection_factory("argocd", hashed={"token": "ar"})
    push = json.dumps(fixture("github", "push")).encode()
    assert (
        post(
            client,
            gh,
            push,
            HTTP_X_GITHUB_EVENT="push",
            HTTP_X_GITHUB_DELIVERY=new_delivery_id(),
            HTTP_X_HUB_SIGNATURE_256="sha256=" + hmac_hex("gh", push),
        ).status_code
        == 202
    )
    deployment = json.dumps(fixture("github", "deployment")).encode()
    assert (
        post(
            client,
            gh,
            deployment,
            HTTP_X_GITHUB_EVENT="deployment",
            HTTP_X_GITHUB_DELIVERY=new_delivery_id(),
            HTTP_X_HUB_SIGNATURE_256="sha256=" + hmac_hex("gh", deployment),
        ).status_code
        == 202
    )
    build = fixture("jenkins", "build_finalized")
    build["build"]["scm"]["commit"] = SHA[:7]  # a pipeline that only knows the short SHA
    assert post(client, jenkins, json.dumps(build).encode(), HTTP_X_CHANGETRACK_TOKEN="jk").status_code == 202
    sync = {
        **fixture("argocd", "sync_succeeded_healthy"),
        "revision": SHA[:7],
        "repoURL": "https://github.com/acme/checkout-api.git",
    }
    assert post(client, argo, json.dumps(sync).encode(), HTTP_X_CHANGETRACK_TOKEN="ar").status_code == 202
    other = {**sync, "revision": OTHER, "startedAt": "2024-09-24T08:00:00Z", "finishedAt": "2024-09-24T08:01:00Z"}
    assert post(client, argo, json.dumps(other).encode(), HTTP_X_CHANGETRACK_TOKEN="ar").status_code == 202
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
