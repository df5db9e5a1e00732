"""The collector end to end: unmodified client → fake API server over TCP → Celery worker → PostgreSQL."""

from __future__ import annotations

import base64
import copy
import json
from typing import Any

import pytest

from changetrack.models import Change, Dependency, HealthEpisode, KubeObject, Service, Watermark
from tests.kubernetes import objects as o
from tests.kubernetes.conftest import wait_for

pytestmark = pytest.mark.django_db(transaction=True)


def shop(fake):
    """A small namespace: web (reads rest-api through REST_API_URL, mounts web-config), rest-api, worker
    (mounts web-config too), an HPA on rest-api, a node, a lease (must be ignored)."""
    web = o.deployment(
        "web",
        env=[
            {"name": "REST_API_URL", "value": "http://rest-api.prod.svc.cluster.local:8080/v1"},
            {"name": "DB_PASSWORD", "value": "hunter2-in-env"},
            {"name": "LOG_LEVEL", "value": "info"},
        ],
        volumes=[
            {"name": "web-config", "configMap": {"name": "web-config"}},
            {"name": "creds", "secret": {"secretName": "shop-creds"}},
        ],
    )
    api = o.deployment("rest-api", image="registry.example.com/shop/rest-api:0f3c2a1b9d8e", replicas=5)
    worker = o.deployment(
        "worker",
        volumes=[{"name": "web-config", "configMap": {"name": "web-config"}}],
        annotations={"changetrack.io/depends-on": "rest-api"},
    )
    objs = [
        web,
        api,
        worker,
        o.configmap("web-config", {"FEATURE_X": "on", "UPSTREAM": "rest-api:8080"}),
        o.secret("shop-creds", {"password": base64.b64encode(b"s3cr3t-value-1").decode()}),
        o.service("rest-api", {"app": "rest-api"}),
        o.service("web", {"app": "web"}),
        o.hpa("rest-api", "rest-api", 2, 10, 5),
        o.node("node-a"),
        o.lease("node-a"),
    ]
    for d in (web, api, worker):
        rs = o.replicaset(d, "5d8f7c9b4")
        objs.append(rs)
        objs += [o.pod(rs, s) for s in ("x1a2b", "c3d4e")]
    fake.load(copy.deepcopy(objs))
    return {"web": web, "rest-api": api, "worker": worker}


def test_the_initial_sync_stores_every_object_and_the_graph_but_no_changes(fake, harness):
    shop(fake)
    harness.start()
    wait_for(lambda: KubeObject.objects.filter(cluster="prod").count() == 18, what="18 objects")
    assert not KubeObject.objects.filter(kind="Lease").exists()
    assert not any("leases" in r for r in fake.requests)
    assert set(Service.objects.values_list("name", flat=True)) >= {"web", "rest-api", "worker"}
    assert Change.objects.count() == 0
    assert Watermark.objects.filter(key="k8s:prod:deployments").exclude(value="").exists()
    wait_for(lambda: Dependency.objects.filter(service__name="web", depends_on__name="rest-api").exists(), what="edge")
    edge = Dependency.objects.get(service__name="web", depends_on__name="rest-api")
    assert (edge.provenance, edge.evidence) == ("kubernetes", "env var REST_API_URL")
    declared = wait_for(lambda: Dependency.objects.filter(service__name="worker", depends_on__name="rest-api").first())
    assert declared.evidence in ("annotation changetrack.io/depends-on", "configmap web-config key UPSTREAM")


def _settled_then_new_image(
    fake, harness, name: str, tag: str, manager: str, status: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The shop listed and stored, then workload ``name`` given image ``tag`` by ``manager``; returns what was
    applied (to change it again)."""
    objs = shop(fake)
    harness.settle(harness.start())
    workload = copy.deepcopy(objs[name])
    workload["spec"]["template"]["spec"]["containers"][0]["image"] = f"registry.example.com/shop/{name}:{tag}"
    if status is not None:
        workload["status"] = status
    fake.apply(workload, manager=manager)
    return workload


def test_an_image_change_is_one_deploy_change_with_its_diff_actor_commit_and_rollout(fake, harness):
    api = _settled_then_new_image(
        fake, harness, "rest-api", "9a8b7c6d5e4f", "kubectl-client-side-apply", o.progressing_status(5, 2, 1)
    )
    change = wait_for(lambda: Change.objects.filter(kind="deploy").first(), what="deploy change")
    assert change.actor == "kubectl"
    assert change.service.name == "rest-api"
    assert [d["path"] for d in change.diff] == ["containers.rest-api.image"]
    assert change.diff[0]["before"].endswith(":0f3c2a1b9d8e") and change.diff[0]["after"].endswith(":9a8b7c6d5e4f")
    assert (change.details["old_commit"], change.details["new_commit"], change.commit_sha) == (
        "0f3c2a1b9d8e",
        "9a8b7c6d5e4f",
        "9a8b7c6d5e4f",
    )
    assert change.status == "in_progress"
    done = copy.deepcopy(api)
    done["metadata"]["annotations"]["deployment.kubernetes.io/revision"] = "2"
    done["status"] = o.rolled_out_status(5, 2)
    fake.apply(done)
    wait_for(lambda: Change.objects.get(pk=change.pk).status == "succeeded", what="rollout to complete")
    change.refresh_from_db()
    assert Change.objects.filter(kind="deploy").count() == 1
    assert change.details["revision"] == "2"
    assert change.details["rollout"]["status"] == "succeeded" and change.ended_at is not None
    assert change.details["old_image"].endswith(":0f3c2a1b9d8e")


def test_a_rollout_past_its_deadline_is_marked_failed(fake, harness):
    web = _settled_then_new_image(fake, harness, "web", "1.5.0", "helm", o.progressing_status(3, 2, 1))
    wait_for(lambda: Change.objects.filter(kind="deploy", actor="helm").exists(), what="deploy")
    web["status"] = o.progressing_status(3, 2, 1, reason="ProgressDeadlineExceeded")
    fake.apply(web)
    change = wait_for(lambda: Change.objects.filter(kind="deploy", status="failed").first(), what="failed rollout")
    assert change.details["rollout"]["reason"] == "ProgressDeadlineExceeded"
    assert change.severity == "error"


def test_an_hpa_driven_replica_change_is_autoscale_and_kubectl_scale_is_scale(fake, harness):
    objs = shop(fake)
    collector = harness.start()
    harness.settle(collector)
    fake.apply(o.hpa("rest-api", "rest-api", 2, 10, 8))  # the HPA decides 8
    api = copy.deepcopy(objs["rest-api"])
    api["spec"]["replicas"] = 8
    fake.apply(api, manager="kube-controller-manager", subresource="scale")
    auto = wait_for(lambda: Change.objects.filter(kind="autoscale").first(), what="autoscale")
    assert auto.summary.endswith("5 → 8 by the HPA")
    web = copy.deepcopy(objs["web"])
    web["spec"]["replicas"] = 1
    fake.apply(web, manager="kubectl", subresource="scale")
    scale = wait_for(lambda: Change.objects.filter(kind="scale", service__name="web").first(), what="scale")
    assert scale.actor == "kubectl"
    assert scale.diff == [{"path": "replicas", "before": 3, "after": 1}]
    assert scale.severity == "warning"


def test_a_configmap_change_shows_on_every_workload_that_mounts_it(fake, harness):
    shop(fake)
    collector = harness.start()
    harness.settle(collector)
    fake.apply(o.configmap("web-config", {"FEATURE_X": "off", "UPSTREAM": "rest-api:8080"}), manager="kubectl-edit")
    wait_for(lambda: Change.objects.filter(kind="config").count() == 2, what="two config changes")
    changes = Change.objects.filter(kind="config")
    assert {c.service.name for c in changes} == {"web", "worker"}
    assert all(c.diff == [{"path": "data.FEATURE_X", "before": "on", "after": "off"}] for c in changes)
    assert {c.actor for c in changes} == {"kubectl"}


def _all_text() -> str:
    from django.db import connection

    chunks = []
    with connection.cursor() as cur:
        cur.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        for (table,) in cur.fetchall():
            cur.execute(f'SELECT t::text FROM "{table}" AS t')
            chunks += [row[0] for row in cur.fetchall()]
    return "\n".join(chunks)


def test_a_secret_change_is_recorded_without_its_value_anywhere(fake, harness, redis_client, caplog):
    shop(fake)
    collector = harness.start()
    harness.settle(collector)
    value = b"n3w-s3cr3t-p4ssw0rd"
    encoded = base64.b64encode(value).decode()
    sec = o.secret("shop-creds", {"password": encoded})
    sec["metadata"]["annotations"] = {
        "kubectl.kubernetes.io/last-applied-configuration": json.dumps({"data": {"password": encoded}})
    }
    fake.apply(sec, manager="kubectl-client-side-apply")
    change = wait_for(lambda: Change.objects.filter(kind="secret").first(), what="secret change")
    assert change.service.name == "web"
    assert change.diff[0]["path"] == "data.password" and change.diff[0]["redacted"] is True
    assert change.diff[0]["after"].startswith("hmac-sha256:")
    text = _all_text()
    for needle in (value.decode(), encoded, "s3cr3t-value-1", "hunter2-in-env"):
        assert needle not in text
    assert encoded not in caplog.text and value.decode() not in caplog.text


def test_crashloopbackoff_across_three_pods_is_one_episode_that_ends(fake, harness):
    objs = shop(fake)
    collector = harness.start()
    harness.settle(collector)
    rs = o.replicaset(objs["worker"], "5d8f7c9b4")
    pods = [o.pod(rs, s) for s in ("x1a2b", "c3d4e", "f5g6h")]
    for p in pods:
        fake.apply(o.pod(rs, p["metadata"]["name"].rsplit("-", 1)[1], waiting="CrashLoopBackOff", restarts=4))
    episode = wait_for(
        lambda: next(
            (e for e in HealthEpisode.objects.filter(reason="CrashLoopBackOff") if len(e.details["subjects"]) == 3),
            None,
        ),
        what="episode with three pods",
    )
    assert HealthEpisode.objects.filter(reason="CrashLoopBackOff").count() == 1
    assert episode.service.name == "worker" and episode.ended_at is None
    assert HealthEpisode.objects.filter(reason="RestartBurst").count() == 1  # 0 → 4 restarts per pod
    for p in pods:
        fake.apply(p)  # healthy again
    wait_for(lambda: HealthEpisode.objects.get(pk=episode.pk).ended_at is not None, what="episode to end")
    assert HealthEpisode.objects.filter(reason="CrashLoopBackOff").count() == 1


def test_a_node_going_not_ready_opens_an_episode_on_the_services_running_there(fake, harness):
    shop(fake)
    collector = harness.start()
    harness.settle(collector)
    fake.apply(o.node("node-a", heartbeat="2026-11-22T01:00:10Z"))  # heartbeat only: nothing
    fake.apply(o.node("node-a", ready="Unknown"))
    wait_for(lambda: HealthEpisode.objects.filter(reason="NodeNotReady").count() == 3, what="three episodes")
    assert set(HealthEpisode.objects.values_list("service__name", flat=True)) == {"web", "rest-api", "worker"}
    assert Change.objects.count() == 0


def test_a_restart_resumes_from_the_checkpoint_without_duplicates(fake, harness):
    objs = shop(fake)
    first = harness.start()
    harness.settle(first)
    web = copy.deepcopy(objs["web"])
    web["spec"]["template"]["spec"]["containers"][0]["image"] = "registry.example.com/shop/web:2.0.0"
    fake.apply(web, manager="kubectl-set")
    wait_for(lambda: Change.objects.filter(kind="deploy").count() == 1, what="first deploy")
    harness.settle(first)
    harness.stop_all()
    web["spec"]["template"]["spec"]["containers"][0]["image"] = "registry.example.com/shop/web:2.1.0"
    fake.apply(web, manager="kubectl-set")  # while the collector is down
    lists_before = sum(1 for r in fake.requests if "watch" not in r)
    second = harness.start()
    wait_for(lambda: Change.objects.filter(kind="deploy").count() == 2, what="second deploy")
    harness.settle(second)
    assert sum(1 for r in fake.requests if "watch" not in r) == lists_before  # resumed, no relist
    assert Change.objects.count() == 2
    assert sorted(Change.objects.values_list("external_id", flat=True)) == [
        "prod/Deployment/prod/web/2",
        "prod/Deployment/prod/web/3",
    ]


def test_an_expired_watch_relists_and_detects_deletions(fake, harness):
    shop(fake)
    first = harness.start()
    harness.settle(first)
    harness.stop_all()
    fake.delete("Deployment", "prod", "worker")
    fake.delete("ConfigMap", "prod", "web-config")
    fake.compact()  # the stored checkpoint is now too old: ERROR 410 in the watch stream
    second = harness.start()
    wait_for(lambda: Change.objects.filter(kind="infra").exists(), what="deletion change")
    assert second.stats.expired >= 1
    gone = Change.objects.get(kind="infra")
    assert gone.summary == "Deployment worker deleted" and gone.service.name == "worker"
    wait_for(lambda: not KubeObject.objects.filter(kind="ConfigMap", name="web-config").exists(), what="cm gone")
    # shown once on each workload that mounted it: web for sure; worker too when the ConfigMap's relist ran
    # before the Deployments' (both went while the collector was away, so their order is unknowable)
    shown_on = sorted(
        Change.objects.filter(kind="config", summary__contains="web-config deleted").values_list(
            "service__name", flat=True
        )
    )
    assert shown_on in (["web"], ["web", "worker"])


def test_a_burst_of_ten_thousand_events_loses_none_and_batches_them(fake, harness):
    fake.load([o.configmap(f"cm-{i}", {"v": "0"}, namespace="burst") for i in range(500)])
    collector = harness.start(batch_size=500, flush_interval=0.25)
    harness.settle(collector)
    for round_ in range(1, 21):
        for i in range(500):
            fake.apply(o.configmap(f"cm-{i}", {"v": str(round_)}, namespace="burst"))
    wait_for(lambda: Change.objects.filter(kind="config").count() == 10_000, timeout=240, what="10,000 changes")
    harness.settle(collector)
    assert Change.objects.filter(kind="config").count() == 10_000
    assert collector.stats.sent / max(collector.stats.batches, 1) >= 100
    assert set(KubeObject.objects.filter(kind="ConfigMap").values_list("state__data__v", flat=True)) == {"20"}


def test_disconnects_mid_stream_and_server_errors_are_survived_without_loss(fake, harness):
    shop(fake)
    collector = harness.start()
    harness.settle(collector)
    fake.fault("disconnect")
    fake.fault("error")
    for i in range(5):
        fake.apply(o.configmap("web-config", {"FEATURE_X": f"v{i}", "UPSTREAM": "rest-api:8080"}))
    wait_for(lambda: Change.objects.filter(kind="config").count() == 10, what="ten config changes")
    assert collector.stats.reconnects >= 1


def test_bookmarks_advance_the_checkpoint(fake, harness):
    shop(fake)
    collector = harness.start()
    harness.settle(collector)
    key = "k8s:prod:statefulsets"
    # the checkpoint is written by the worker's last task, which may still run when the queue is empty
    before = wait_for(
        lambda: Watermark.objects.filter(key=key).values_list("value", flat=True).first(), what="checkpoint"
    )
    fake.apply(o.configmap("unrelated", {"a": "b"}, namespace="other"))
    wait_for(lambda: Watermark.objects.get(key=key).value != before, what="bookmark checkpoint")
    assert collector.stats.bookmarks > 0


def test_returning_the_template_to_an_earlier_revision_is_a_rollback(fake, harness):
    web = _settled_then_new_image(fake, harness, "web", "1.5.0", "argocd-controller")
    wait_for(lambda: Change.objects.filter(kind="deploy").exists(), what="deploy")
    web["spec"]["template"]["spec"]["containers"][0]["image"] = "registry.example.com/shop/web:1.4.2"
    fake.apply(web, manager="kubectl-rollout")
    rollback = wait_for(lambda: Change.objects.filter(kind="rollback").first(), what="rollback")
    assert rollback.actor == "kubectl" and rollback.summary.startswith("Deployment prod/web rolled back")
    assert Change.objects.get(kind="deploy").actor == "argocd"


def test_a_human_changing_hpa_bounds_is_a_scale_change_on_the_target(fake, harness):
    shop(fake)
    collector = harness.start()
    harness.settle(collector)
    fake.apply(o.hpa("rest-api", "rest-api", 2, 20, 5), manager="kubectl-edit")
    change = wait_for(lambda: Change.objects.filter(kind="scale").first(), what="hpa change")
    assert change.service.name == "rest-api" and change.actor == "kubectl"
    assert change.diff == [{"path": "maxReplicas", "before": 10, "after": 20}]


def test_the_command_collects_several_contexts_from_a_kubeconfig_and_excludes_namespaces(fake, celery_worker, tmp_path):
    from django.core.management import call_command

    shop(fake)
    fake.load([o.configmap("coredns", {"Corefile": ".:53"}, namespace="kube-system")])
    kubeconfig = tmp_path / "config"
    kubeconfig.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: east\n"
        f"clusters:\n- name: c\n  cluster:\n    server: {fake.url}\n"
        "users:\n- name: u\n  user:\n    token: not-a-real-token\n"
        "contexts:\n- name: east\n  context: {cluster: c, user: u}\n- name: west\n  context: {cluster: c, user: u}\n"
    )
    call_command(
        "collect_kubernetes",
        context=["east", "west"],
        kubeconfig=str(kubeconfig),
        run_seconds=6,
        exclude_namespace=["kube-system"],
        watch_timeout=2,
    )
    wait_for(lambda: KubeObject.objects.filter(cluster="west").count() == 18, what="west synced")
    assert KubeObject.objects.filter(cluster="east").count() == 18
    assert not KubeObject.objects.filter(namespace="kube-system").exists()
    assert Service.objects.filter(name="web").count() == 2  # one per cluster


def test_an_expired_continue_token_restarts_the_list_and_stores_everything(fake, harness):
    fake.load([o.configmap(f"cm-{i}", {"v": "0"}, namespace="paged") for i in range(1200)])
    fake.fault("expire_continue")
    harness.start(page_size=500)
    wait_for(lambda: KubeObject.objects.filter(kind="ConfigMap").count() == 1200, what="1200 configmaps")
    assert any("continue=" in r for r in fake.requests)
    assert Change.objects.count() == 0


def test_a_warning_event_about_a_pod_opens_an_episode_on_its_service(fake, harness):
    shop(fake)
    collector = harness.start()
    harness.settle(collector)
    fake.apply(o.warning_event("web-5d8f7c9b4-x1a2b", "Unhealthy", count=3))
    episode = wait_for(lambda: HealthEpisode.objects.filter(reason="Unhealthy").first(), what="episode")
    assert episode.service.name == "web" and episode.details["subjects"] == ["event/web-5d8f7c9b4-x1a2b"]


def test_the_periodic_resync_makes_running_collectors_relist(fake, harness):
    from changetrack.collect.tasks import resync_kubernetes

    shop(fake)
    collector = harness.start(resync_poll=0.3)
    harness.settle(collector)
    relists = collector.stats.relists
    resync_kubernetes()
    wait_for(lambda: collector.stats.relists >= relists + 13, what="a relist of every resource type")
    harness.settle(collector)
    assert Change.objects.count() == 0  # nothing differed: nothing recorded


class RecordingSink:
    """Keeps the JSON of every task payload, then hands the batch to the real Celery sink."""

    def __init__(self, inner):
        self.inner = inner
        self.payloads: list[str] = []

    def send(self, cluster, observations, checkpoints):
        self.payloads.append(json.dumps([cluster, observations, checkpoints]))
        self.inner.send(cluster, observations, checkpoints)


def test_secret_values_never_reach_a_task_payload(fake, harness):
    harness.sink = RecordingSink(harness.sink)
    shop(fake)
    collector = harness.start()
    harness.settle(collector)
    encoded = base64.b64encode(b"payload-s3cr3t").decode()
    fake.apply(o.secret("shop-creds", {"password": encoded}))
    wait_for(lambda: Change.objects.filter(kind="secret").exists(), what="secret change")
    text = "\n".join(harness.sink.payloads)
    assert "shop-creds" in text
    for needle in (encoded, "payload-s3cr3t", base64.b64encode(b"s3cr3t-value-1").decode(), "hunter2-in-env"):
        assert needle not in text


class SlowSink:
    """A slow queue: every batch takes a while to hand over."""

    def __init__(self, inner, delay):
        self.inner = inner
        self.delay = delay

    def send(self, cluster, observations, checkpoints):
        import time

        time.sleep(self.delay)
        self.inner.send(cluster, observations, checkpoints)


def test_a_slow_queue_slows_the_watcher_down_and_loses_nothing(fake, harness):
    fake.load([o.configmap(f"cm-{i}", {"v": "0"}, namespace="slow") for i in range(100)])
    slow = SlowSink(harness.sink, delay=0.2)
    harness.sink = slow
    collector = harness.start(queue_size=40, batch_size=20, flush_interval=0.05)
    wait_for(lambda: KubeObject.objects.filter(kind="ConfigMap").count() == 100, what="initial sync")
    import threading

    peak = {"size": 0}
    done = threading.Event()

    def sample():
        while not done.wait(0.005):
            peak["size"] = max(peak["size"], collector.queue.qsize())

    threading.Thread(target=sample, daemon=True).start()
    for round_ in range(1, 11):
        for i in range(100):
            fake.apply(o.configmap(f"cm-{i}", {"v": str(round_)}, namespace="slow"))
    wait_for(lambda: Change.objects.filter(kind="config").count() == 1000, timeout=120, what="1,000 changes")
    done.set()
    assert peak["size"] == 40  # the bounded queue was full: the watcher waited instead of dropping
    assert Change.objects.filter(kind="config").count() == 1000


def test_a_rollout_replaced_by_a_newer_one_is_marked_superseded(fake, harness):
    objs = shop(fake)
    collector = harness.start()
    harness.settle(collector)
    web = copy.deepcopy(objs["web"])
    web["status"] = o.progressing_status(3, 2, 1)
    for tag in ("1.5.0", "1.6.0"):
        web["spec"]["template"]["spec"]["containers"][0]["image"] = f"registry.example.com/shop/web:{tag}"
        fake.apply(web, manager="kubectl-set")
        wait_for(
            lambda tag=tag: Change.objects.filter(kind="deploy", details__new_image__endswith=tag).exists(),
            what=f"deploy of {tag}",
        )
    first = wait_for(lambda: Change.objects.filter(kind="deploy", status="superseded").first(), what="superseded")
    assert first.details["new_image"].endswith(":1.5.0")
    assert Change.objects.get(kind="deploy", status="in_progress").details["new_image"].endswith(":1.6.0")
