"""The fake API server's contract, checked with the unmodified client. The same checks run against a real
cluster with ``pytest -m kubernetes_cluster`` when ``KUBECONFIG`` is set, so the fake stays honest."""

from __future__ import annotations

import json
import os

import pytest
from kubernetes import client as k8s
from kubernetes import config as k8s_config
from kubernetes import watch
from kubernetes.client.exceptions import ApiException

from tests.kubernetes import objects as o
from tests.kubernetes.fakeapi import FakeCluster, serve


@pytest.fixture(params=["fake", pytest.param("real", marks=pytest.mark.kubernetes_cluster)])
def core(request):
    if request.param == "real":
        if not os.environ.get("KUBECONFIG"):
            pytest.skip("set KUBECONFIG to run the contract against a real cluster")
        yield k8s.CoreV1Api(k8s_config.new_client_from_config())
        return
    cluster = FakeCluster(bookmark_interval=0.2)
    cluster.load([o.configmap(f"c-{i}", {"k": str(i)}, namespace="default") for i in range(7)])
    server = serve(cluster)
    yield k8s.CoreV1Api(k8s.ApiClient(k8s.Configuration(host=server.url)))
    server.shutdown()
    server.server_close()


def test_list_pages_share_one_resource_version(core):
    first = json.loads(core.list_namespaced_config_map("default", limit=2, _preload_content=False).data)
    token = first["metadata"].get("continue")
    if not token:
        pytest.skip("fewer than three ConfigMaps in default")
    second = json.loads(
        core.list_namespaced_config_map("default", limit=2, _continue=token, _preload_content=False).data
    )
    assert first["metadata"]["resourceVersion"] == second["metadata"]["resourceVersion"]
    assert "kind" not in first["items"][0]


def test_a_watch_closes_at_its_timeout_and_sends_bookmarks_it_was_asked_for(core):
    rv = json.loads(core.list_namespaced_config_map("default", limit=1, _preload_content=False).data)["metadata"][
        "resourceVersion"
    ]
    w = watch.Watch(return_type="object")
    events = list(
        w.stream(
            core.list_namespaced_config_map,
            "default",
            resource_version=rv,
            timeout_seconds=2,
            allow_watch_bookmarks=True,
        )
    )
    assert all(e["type"] in ("ADDED", "MODIFIED", "DELETED", "BOOKMARK") for e in events)  # and it ended


def test_a_watch_from_a_compacted_resource_version_raises_410(core):
    w = watch.Watch(return_type="object")
    with pytest.raises(ApiException) as err:
        list(w.stream(core.list_namespaced_config_map, "default", resource_version="1", timeout_seconds=5))
    assert err.value.status == 410
