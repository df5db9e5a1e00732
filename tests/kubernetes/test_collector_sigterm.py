"""The real ``collect_kubernetes`` process sent SIGTERM, as an orchestrator stops a pod: it stops reading, hands
over what it read with its checkpoint, and exits 0 within ``--shutdown-seconds``; the next run resumes from
that checkpoint (no relist) and stores every change once."""

from __future__ import annotations

import base64
import copy
import json
import signal
import time
from pathlib import Path

import pytest
from django.conf import settings

from changetrack.models import Change, KubeObject, Watermark
from tests.kubernetes import objects as o
from tests.kubernetes.conftest import collector_process, wait_for
from tests.reliability import procs

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

DEPLOYMENTS = 300
CHECKPOINT = "k8s:prod:deployments"


def _collector(fake, tmp_path: Path, n: int, redis_url: str, *extra: str) -> procs.Proc:
    return collector_process(fake, tmp_path, n, redis_url, "--watch-timeout", "60", "--shutdown-seconds", "10", *extra)


def _sigterm(proc: procs.Proc, within: float) -> tuple[int, float]:
    """SIGTERM to the process alone (the kubelet signals a container's PID 1); its exit code and how long it took."""
    assert proc.proc is not None
    started = time.monotonic()
    proc.proc.send_signal(signal.SIGTERM)
    code = proc.proc.wait(within)
    return code, time.monotonic() - started


def _deployments(fake) -> list[dict]:
    deployments = [o.deployment(f"app-{i}", namespace="burst", image=f"r.example.com/app-{i}:0") for i in range(300)]
    fake.load(copy.deepcopy(deployments))
    return deployments


def test_a_collector_sent_sigterm_mid_burst_saves_its_checkpoint_exits_0_and_resumes_from_it(
    fake, redis_client, tmp_path
):
    deployments = _deployments(fake)
    first = _collector(fake, tmp_path, 1, settings.REDIS_URL, "--no-celery")
    try:
        wait_for(lambda: KubeObject.objects.filter(kind="Deployment").count() == DEPLOYMENTS, 60, "the initial sync")
        for i, d in enumerate(deployments):
            d["spec"]["template"]["spec"]["containers"][0]["image"] = f"r.example.com/app-{i}:1"
            fake.apply(d, manager="kubectl-set")
        last_rv = fake.rv
        wait_for(lambda: Change.objects.exists(), 60, "part of the burst to be stored")
        code, seconds = _sigterm(first, 15)
    finally:
        first.kill()
    assert code == 0, first.output()[-3000:]
    assert seconds < 11
    assert '"message": "collect.kubernetes.stopped"' in first.output() and '"unsent": 0' in first.output()
    saved = int(Watermark.objects.get(key=CHECKPOINT).value)
    stored_at_exit = Change.objects.count()
    assert 0 < stored_at_exit <= DEPLOYMENTS and saved <= last_rv
    lists_before = sum(1 for r in fake.requests if "watch" not in r)

    second = _collector(fake, tmp_path, 2, settings.REDIS_URL, "--no-celery")
    try:
        wait_for(lambda: Change.objects.count() >= DEPLOYMENTS, 60, "the rest of the burst after the restart")
        wait_for(lambda: "collecting prod" in second.output(), 60, "the second collector to start")
        time.sleep(1)  # a duplicate would land now
        code, _ = _sigterm(second, 15)
    finally:
        second.kill()
    assert code == 0
    assert Change.objects.count() == DEPLOYMENTS  # every edit once: nothing lost, nothing stored twice
    assert sum(1 for r in fake.requests if "watch" not in r) == lists_before  # resumed from the checkpoint
    assert int(Watermark.objects.get(key=CHECKPOINT).value) == last_rv
    print(f"\n[sigterm] collector: stored at exit {stored_at_exit}/{DEPLOYMENTS}, exit in {seconds:.2f}s")


def test_a_collector_held_back_by_a_full_broker_hands_over_its_batch_and_checkpoint_on_sigterm(fake, tmp_path):
    _deployments(fake)
    redis = procs.ThrowawayRedis()
    redis.start()
    try:
        client = __import__("redis").Redis(unix_socket_path=str(redis.socket))
        client.rpush(settings.CELERY_TASK_DEFAULT_QUEUE, *[b"{}"] * 60)  # workers far behind: backpressure
        collector = _collector(fake, tmp_path, 1, redis.url)
        wait_for(lambda: "collecting prod" in collector.output(), 60, "the collector to start")
        time.sleep(3)  # it has listed and waits for the broker queue to shrink
        assert client.llen(settings.CELERY_TASK_DEFAULT_QUEUE) == 60
        try:
            code, seconds = _sigterm(collector, 15)
        finally:
            collector.kill()
        queued = [json.loads(m) for m in client.lrange(settings.CELERY_TASK_DEFAULT_QUEUE, 0, -1)]
        handed = [m for m in queued if m]  # the tasks it sent (the 60 placeholders are empty)
    finally:
        redis.cleanup()

    assert code == 0, collector.output()[-3000:]
    assert seconds < 5  # not the whole --shutdown-seconds: it stopped waiting for the broker
    checkpoints = {}
    for message in handed:
        args = json.loads(base64.b64decode(message["body"]))[0]
        checkpoints.update(args[2])
    assert CHECKPOINT in checkpoints  # the list's position goes with its batch: the restart need not relist
