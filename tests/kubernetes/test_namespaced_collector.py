"""A collector whose ServiceAccount holds Roles in a few namespaces only (deploy/kubernetes/overlays/namespaced):
``--include-namespace`` + ``--namespaced-only`` through the in-cluster loader, against a fake API server that
answers 403 outside those namespaces as RBAC does."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from changetrack.models import Dependency, KubeObject
from tests.kubernetes import objects as o
from tests.kubernetes.conftest import wait_for
from tests.kubernetes.incluster import in_cluster_api
from tests.kubernetes.test_collector import shop

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_namespace_scoped_collector_syncs_its_namespaces_without_touching_cluster_wide_apis(
    celery_worker, tmp_path, monkeypatch
):
    with in_cluster_api(tmp_path, monkeypatch, "sa-token-namespaced", frozenset({"prod"})) as (cluster, sa):
        shop(cluster)  # 17 objects in prod, and a node
        cluster.load([o.deployment("payments", namespace="pay"), o.configmap("pay-config", {"a": "b"}, "pay")])
        call_command(
            "collect_kubernetes",
            in_cluster=True,
            cluster_name="scoped",
            service_account_dir=str(sa),
            include_namespace=["prod"],
            namespaced_only=True,
            run_seconds=6,
            watch_timeout=2,
        )
        wait_for(lambda: KubeObject.objects.filter(cluster="scoped").count() == 17, what="the prod namespace")
        # the graph is derived once every watcher has listed: it would never be, had one of them been refused
        wait_for(
            lambda: Dependency.objects.filter(service__name="web", depends_on__name="rest-api").exists(),
            what="dependency edges after the first full sync",
        )
        assert set(KubeObject.objects.filter(cluster="scoped").values_list("namespace", flat=True)) == {"prod"}
        assert cluster.requests
        assert all(path.split("?")[0].split("/")[-3:-1] == ["namespaces", "prod"] for path in cluster.requests)


def test_namespaced_only_without_namespaces_is_refused_before_anything_is_listed(tmp_path):
    with pytest.raises(CommandError, match="--namespaced-only needs --include-namespace"):
        call_command("collect_kubernetes", in_cluster=True, service_account_dir=str(tmp_path), namespaced_only=True)
