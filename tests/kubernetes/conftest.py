"""The fake API server and a harness that runs the real collector against it, storing through Celery."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client as k8s

from tests.kubernetes.fakeapi import FakeCluster, serve


@pytest.fixture
def fake() -> Iterator[FakeCluster]:
    cluster = FakeCluster(bookmark_interval=0.3)
    server = serve(cluster)
    cluster.url = server.url  # type: ignore[attr-defined]
    yield cluster
    server.shutdown()
    server.server_close()


def wait_for(predicate: Callable[[], Any], timeout: float = 30.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


class Harness:
    """Starts collectors for the fake cluster with the production wiring (``runtime.build`` + a sink)."""

    def __init__(self, fake: FakeCluster, sink: Any):
        self.fake = fake
        self.sink = sink
        self.collectors: list[Any] = []

    def start(self, name: str = "prod", **tuning: Any) -> Any:
        from changetrack.collect.kubernetes import ClusterConfig, Tuning
        from changetrack.collect.runtime import build

        cfg = k8s.Configuration(host=self.fake.url)  # type: ignore[attr-defined]
        cfg.connection_pool_maxsize = 20
        config = ClusterConfig(
            name, k8s.ApiClient(cfg), frozenset(tuning.pop("include", ())), frozenset(tuning.pop("exclude", ()))
        )
        collector = build(config, self.sink, Tuning(**{"watch_timeout": 5, "flush_interval": 0.1, **tuning}))
        collector.start()
        self.collectors.append(collector)
        assert collector.wait_synced(60), "collector did not finish its initial sync"
        return collector

    def settle(self, collector: Any, timeout: float = 60.0) -> None:
        """Wait until the collector has sent everything it read and the broker queue is empty."""
        wait_for(lambda: collector.queue.unfinished_tasks == 0, timeout, "collector queue to drain")
        from changetrack.infra import redis as shared_redis

        wait_for(lambda: shared_redis.client().llen("changetrack") == 0, timeout, "celery queue to drain")
        time.sleep(0.3)  # the last task may still be running in the worker

    def stop_all(self) -> None:
        for c in self.collectors:
            c.stop()
        for c in self.collectors:
            wait_for(lambda c=c: c.queue.unfinished_tasks == 0, 10, "collector to hand over its queue")
        self.collectors.clear()


@pytest.fixture
def harness(fake: FakeCluster, celery_worker: Any) -> Iterator[Harness]:
    from changetrack.collect.runtime import CelerySink

    h = Harness(fake, CelerySink())
    yield h
    h.stop_all()
    time.sleep(0.6)  # let batcher threads exit and close their connections


def collector_process(fake: FakeCluster, tmp_path: Path, n: int, redis_url: str, *extra: str) -> Any:
    """The real ``collect_kubernetes`` command in its own process (production-like environment, DEBUG off),
    pointed at ``fake`` through a kubeconfig with context ``prod``; its log is ``collector-<n>.log``."""
    from tests.reliability import procs

    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: prod\n"
        f"clusters:\n- name: c\n  cluster:\n    server: {fake.url}\n"  # type: ignore[attr-defined]
        "users:\n- name: u\n  user:\n    token: not-a-real-token\n"
        "contexts:\n- name: prod\n  context: {cluster: c, user: u}\n"
    )
    env = procs.child_env(procs.test_database_url(), redis_url, LOG_LEVEL="INFO")
    args = [str(procs.VENV_BIN / "python"), "manage.py", "collect_kubernetes", "--context", "prod"]
    args += ["--kubeconfig", str(kubeconfig), *extra]
    return procs.Proc(args, env, tmp_path / f"collector-{n}.log").start()
