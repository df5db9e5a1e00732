"""Ingress routes as dependency edges, CronJob failures as health episodes, the in-cluster command over HTTPS,
and the RBAC manifest checked against what the collector really requests. Real client, fake API server, Celery."""

from __future__ import annotations

import copy
import ssl
from pathlib import Path
from urllib.parse import urlparse

import pytest
import yaml

from changetrack.models import Dependency, HealthEpisode, KubeObject, Service
from tests.kubernetes import objects as o
from tests.kubernetes.conftest import wait_for
from tests.kubernetes.fakeapi import FakeCluster, serve
from tests.kubernetes.test_collector import shop
from tests.tls import self_signed_certificate

pytestmark = pytest.mark.django_db(transaction=True)


def checkout(env: list[dict[str, str]]) -> dict:
    return o.deployment("checkout", image="registry.example.com/shop/checkout:3.1.0", env=env)


def edges(source: str) -> dict[str, str]:
    return dict(
        Dependency.objects.filter(service__name=source, provenance="kubernetes").values_list(
            "depends_on__name", "evidence"
        )
    )


def test_ingress_hosts_and_paths_become_edges_to_the_backend_workloads(fake, harness):
    shop(fake)
    fake.load(
        [
            o.ingress("shop", [("shop.example.com", "/", "web"), ("shop.example.com", "/api", "rest-api")]),
            checkout(
                [
                    {"name": "STOREFRONT_URL", "value": "https://shop.example.com"},
                    {"name": "ORDERS_API", "value": "https://shop.example.com/api/v1/orders"},
                    {"name": "DOCS_URL", "value": "https://docs.example.org/shop"},  # no Ingress routes it
                ]
            ),
        ]
    )
    harness.start()
    found = wait_for(lambda: (e := edges("checkout")) and len(e) == 2 and e, what="two edges from checkout")
    assert found == {
        "web": "env var STOREFRONT_URL via ingress shop (shop.example.com/ → service web)",
        "rest-api": "env var ORDERS_API via ingress shop (shop.example.com/api → service rest-api)",
    }


def test_an_ingress_added_later_routes_a_configmap_host_to_its_backend(fake, harness):
    objs = shop(fake)
    fake.load(
        [
            o.configmap("checkout-config", {"PAYMENTS": "payments.internal.example.com:443"}),
            o.deployment("payments", image="registry.example.com/pay/payments:7.0.1", namespace="pay"),
            o.service("payments", {"app": "payments"}, namespace="pay"),
            o.deployment(
                "checkout",
                image="registry.example.com/shop/checkout:3.1.0",
                volumes=[{"name": "checkout-config", "configMap": {"name": "checkout-config"}}],
            ),
        ]
    )
    collector = harness.start()
    harness.settle(collector)
    assert edges("checkout") == {}  # nothing routes that host yet
    fake.apply(o.ingress("payments", [("*.internal.example.com", "/", "payments")], namespace="pay"))
    found = wait_for(lambda: edges("checkout"), what="edge after the Ingress appeared")
    assert found == {
        "payments": "configmap checkout-config key PAYMENTS via ingress payments "
        "(*.internal.example.com/ → service payments)"
    }
    target = Dependency.objects.get(service__name="checkout").depends_on
    assert (target.namespace, target.cluster.name) == ("pay", "prod")
    assert edges("web") == {"rest-api": "env var REST_API_URL"}  # other edges untouched
    assert objs  # the shop is still there


def test_a_failing_job_of_a_cronjob_is_an_episode_on_the_cronjob_that_ends_when_a_later_run_completes(fake, harness):
    report = o.cronjob("report")
    fake.load([report, o.job(report, "29001", "Complete")])
    collector = harness.start()
    harness.settle(collector)
    assert Service.objects.filter(name="report", namespace="prod").exists()
    fake.apply(o.job(report, "29002"))  # running
    fake.apply(o.job(report, "29002", "Failed"))
    episode = wait_for(lambda: HealthEpisode.objects.filter(reason="JobFailed").first(), what="JobFailed episode")
    assert episode.service.name == "report" and episode.ended_at is None
    assert episode.summary == "JobFailed on report: job report-29002 failed: BackoffLimitExceeded"
    fake.apply(o.job(report, "29003"))
    fake.apply(o.job(report, "29003", "Failed"))  # fails again: same episode
    fake.apply(o.job(report, "29004", "Complete"))
    wait_for(lambda: HealthEpisode.objects.get(pk=episode.pk).ended_at is not None, what="episode to end")
    fake.delete("Job", "prod", "report-29002")  # the history limit removes an old failed run: no new episode
    fake.apply(o.configmap("marker", {"a": "b"}))
    wait_for(lambda: KubeObject.objects.filter(name="marker").exists(), what="later events stored")
    harness.settle(collector)
    assert HealthEpisode.objects.filter(reason="JobFailed").count() == 1
    assert HealthEpisode.objects.get(pk=episode.pk).details["occurrences"] == 2


def test_the_in_cluster_command_uses_the_service_account_token_and_ca_over_https(celery_worker, tmp_path, monkeypatch):
    from django.core.management import call_command

    cert, key = self_signed_certificate(tmp_path, "kube-apiserver")
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(cert, key)
    cluster = FakeCluster(bookmark_interval=0.3)
    cluster.token = "sa-token-7f3e"
    server = serve(cluster, tls=tls)
    try:
        shop(cluster)
        sa = tmp_path / "serviceaccount"
        sa.mkdir()
        (sa / "token").write_text(cluster.token)
        (sa / "ca.crt").write_bytes(cert.read_bytes())
        (sa / "namespace").write_text("changetrack")
        monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "127.0.0.1")
        monkeypatch.setenv("KUBERNETES_SERVICE_PORT", str(server.server_address[1]))
        call_command(
            "collect_kubernetes",
            in_cluster=True,
            cluster_name="incluster",
            service_account_dir=str(sa),
            run_seconds=6,
            watch_timeout=2,
        )
        wait_for(lambda: KubeObject.objects.filter(cluster="incluster").count() == 18, what="in-cluster sync")
        assert Service.objects.filter(cluster__name="incluster", name="web").exists()
        assert cluster.requests  # every one of them carried the token: the fake answers 401 otherwise
        assert not KubeObject.objects.exclude(cluster="incluster").exists()
    finally:
        server.shutdown()
        server.server_close()


def test_the_in_cluster_command_fails_cleanly_without_a_service_account(tmp_path, monkeypatch):
    from django.core.management import call_command
    from django.core.management.base import CommandError

    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "127.0.0.1")
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", "6443")
    with pytest.raises(CommandError, match="Service token file does not exist"):
        call_command("collect_kubernetes", in_cluster=True, service_account_dir=str(tmp_path))


def _rule_of(path: str) -> tuple[str, str]:
    """/api/v1/namespaces/x/pods → ("", "pods"); /apis/apps/v1/deployments → ("apps", "deployments")."""
    parts = urlparse(path).path.strip("/").split("/")
    group = "" if parts[0] == "api" else parts[1]
    return group, parts[-1]


def test_the_rbac_manifest_grants_exactly_what_the_collector_requests(fake, harness):
    objs = shop(fake)
    collector = harness.start()
    harness.settle(collector)
    web = copy.deepcopy(objs["web"])
    web["spec"]["replicas"] = 4
    fake.apply(web)
    harness.settle(collector)
    requested = {_rule_of(p) for p in fake.requests}
    docs = list(yaml.safe_load_all(Path("deploy/kubernetes/collector-rbac.yaml").read_text()))
    role = next(d for d in docs if d["kind"] == "ClusterRole")
    granted = {(g, r) for rule in role["rules"] for g in rule["apiGroups"] for r in rule["resources"]}
    assert requested == granted
    assert ("coordination.k8s.io", "leases") not in requested
    assert {verb for rule in role["rules"] for verb in rule["verbs"]} == {"get", "list", "watch"}
