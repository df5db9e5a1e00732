"""The pure translation layer: normalisation, diffs, classification helpers, dependency hints, commits."""

from __future__ import annotations

import base64
from pathlib import Path

import yaml

from integrations.kubernetes import commits, deps
from integrations.kubernetes.diff import actor_for, actor_label, spec_diff
from integrations.kubernetes.normalize import digest, normalize
from integrations.kubernetes.resources import RESOURCES
from tests.kubernetes import objects as o

KEY = b"test-key"


def test_secret_values_become_keyed_hashes_and_the_last_applied_annotation_is_dropped():
    raw = o.secret("db", {"password": base64.b64encode(b"topsecret").decode()})
    raw["metadata"]["annotations"] = {"kubectl.kubernetes.io/last-applied-configuration": '{"data":{"password":"x"}}'}
    state = normalize(raw, KEY)
    text = repr(state)
    assert "topsecret" not in text and base64.b64encode(b"topsecret").decode() not in text
    assert state["annotations"] == {}
    assert state["data"]["password"]["redacted"].startswith("hmac-sha256:")
    assert normalize(raw, b"other-key")["data"] != state["data"]


def test_a_secret_looking_env_value_is_redacted_in_the_diff():
    before = normalize(o.deployment("web", env=[{"name": "API_TOKEN", "value": "abc"}]), KEY)
    after = normalize(o.deployment("web", env=[{"name": "API_TOKEN", "value": "def"}]), KEY)
    (entry,) = spec_diff(before, after)
    assert entry["path"] == "containers.web.env.API_TOKEN" and entry["redacted"] is True
    assert "abc" not in repr(entry) and "def" not in repr(entry).replace("hmac", "")


def test_an_env_value_from_a_secret_shows_the_reference_not_a_value():
    env = [{"name": "DB_URL", "valueFrom": {"secretKeyRef": {"name": "db", "key": "url"}}}]
    state = normalize(o.deployment("web", env=env), KEY)
    assert state["spec"]["template"]["containers"]["web"]["env"]["DB_URL"] == {"secretKeyRef": "db/url"}
    assert state["refs"]["secrets"] == ["db"]


def test_a_node_heartbeat_does_not_change_the_digest_but_a_ready_transition_does():
    a = digest(normalize(o.node("n1", heartbeat="2026-11-22T01:00:00Z"), KEY))
    b = digest(normalize(o.node("n1", heartbeat="2026-11-22T01:00:40Z"), KEY))
    c = digest(normalize(o.node("n1", ready="False"), KEY))
    assert a == b != c


def test_list_items_without_a_kind_are_normalised_with_the_kind_given():
    raw = o.configmap("c", {"a": "b"})
    del raw["kind"]
    assert normalize(raw, KEY, "ConfigMap")["data"] == {"a": "b"}


def test_managers_map_to_who():
    assert [
        actor_label(m)
        for m in (
            "kubectl-client-side-apply",
            "kubectl-edit",
            "helm",
            "argocd-controller",
            "kube-controller-manager",
            "terraform",
        )
    ] == ["kubectl", "kubectl", "helm", "argocd", "controller:kube-controller-manager", "terraform"]


def test_the_last_writer_of_replicas_is_found_through_the_scale_subresource():
    raw = o.deployment("web")
    raw["metadata"]["managedFields"] = [
        {
            "manager": "helm",
            "operation": "Update",
            "time": "2026-11-22T01:00:00Z",
            "fieldsV1": {"f:spec": {"f:replicas": {}, "f:template": {}}},
        },
        {
            "manager": "kube-controller-manager",
            "operation": "Update",
            "subresource": "scale",
            "time": "2026-11-22T02:00:00Z",
            "fieldsV1": {"f:spec": {"f:replicas": {}}},
        },
        {
            "manager": "kube-controller-manager",
            "operation": "Update",
            "subresource": "status",
            "time": "2026-11-22T03:00:00Z",
            "fieldsV1": {"f:status": {}},
        },
    ]
    state = normalize(raw, KEY)
    assert actor_for(state, "spec.replicas") == ("controller:kube-controller-manager", "2026-11-22T02:00:00Z")
    assert actor_for(state, "spec.template")[0] == "helm"


def test_service_dns_names_in_every_form_are_found():
    for value in (
        "rest-api",
        "rest-api:8080",
        "http://rest-api.prod:8080/v1",
        "rest-api.prod.svc",
        "grpc://rest-api.prod.svc.cluster.local:9090",
        "amqp://user@rest-api.prod",
    ):
        refs = [deps.service_ref(h, "prod") for h in deps.hosts_in(value)]
        assert ("rest-api", "prod") in refs, value
    assert deps.service_ref("api.example.com", "prod") is None
    assert list(deps.hosts_in("a,b")) == ["a", "b"]


def test_commits_come_from_sha_tags_or_labels():
    assert commits.commit_of(None, "reg.io/app:0f3c2a1b9d8e") == "0f3c2a1b9d8e"
    assert commits.commit_of(None, "reg.io/app:sha-0f3c2a1") == "0f3c2a1"
    assert commits.commit_of(None, "reg.io:5000/app:1.4.2") == ""
    state = normalize(
        o.deployment(
            "w",
            labels={"app": "w", "app.kubernetes.io/version": "abcdef1234567"},
            annotations={"changetrack.io/repo": "acme/w"},
        ),
        KEY,
    )
    assert commits.commit_of(state, "reg.io/w:1.0") == "abcdef1234567"
    assert commits.repo_of(state) == "acme/w"


def test_the_rbac_manifest_grants_read_only_access_to_exactly_the_watched_resources():
    docs = list(yaml.safe_load_all(Path("deploy/kubernetes/base/collector-rbac.yaml").read_text()))
    role = next(d for d in docs if d["kind"] == "ClusterRole")
    granted = {(g, r) for rule in role["rules"] for g in rule["apiGroups"] for r in rule["resources"]}
    assert granted == {(rt.group, rt.plural) for rt in RESOURCES}
    assert all(rule["verbs"] == ["get", "list", "watch"] for rule in role["rules"])
