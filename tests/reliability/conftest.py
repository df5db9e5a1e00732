"""Fixtures for fault-injection tests: real gunicorn, Celery worker and a private Redis against the test database."""

from __future__ import annotations

import json
import os
import secrets
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.reliability import procs


def report(scenario: str, **figures: object) -> None:
    """Print a scenario's figures (visible with -s) and append them to $CHAOS_REPORT for ``bench/chaos.py``."""
    line = " ".join(f"{k}={v}" for k, v in figures.items())
    print(f"\n[chaos] {scenario}: {line}")
    target = os.environ.get("CHAOS_REPORT")
    if target:
        with open(target, "a") as handle:
            handle.write(json.dumps({"scenario": scenario, **figures}, default=str) + "\n")


@dataclass
class Stack:
    """A running ingestion stack: private Redis, gunicorn and a Celery worker on the test database."""

    tmp: Path
    redis: procs.ThrowawayRedis
    env: dict[str, str]
    web: procs.Proc
    port: int
    path: str
    token: str
    worker: procs.Proc | None = None

    worker_restarts: int = 0
    _supervising: bool = False

    def start_worker(self, beat: bool = True, **extra_env: str) -> procs.Proc:
        env = {**self.env, **extra_env}
        self.worker = procs.celery_worker(env, self.tmp / "worker.log", beat=beat, schedule=self.tmp / "beat.schedule")
        return self.worker

    def supervise(self, beat: bool = True) -> None:
        """Restart the worker whenever it exits, as ``manage.py serve``, systemd or Kubernetes do.

        Needed for the Redis kill: kombu's Redis transport can crash the worker ("Unrecoverable error:
        AttributeError: 'NoneType' object has no attribute 'hostname'") when the broker connection drops while
        a message is unacknowledged. Restarts are counted and reported, never hidden."""
        self._supervising = True

        def loop() -> None:
            while self._supervising:
                worker = self.worker
                if worker and worker.proc and worker.proc.poll() is not None:
                    self.worker_restarts += 1
                    try:
                        self.start_worker(beat=beat)
                    except (RuntimeError, TimeoutError):
                        pass  # e.g. the broker is still down: try again on the next round
                time.sleep(0.5)

        threading.Thread(target=loop, daemon=True).start()

    def stop_supervising(self) -> None:
        self._supervising = False


@pytest.fixture
def stack(transactional_db, tmp_path: Path) -> Iterator[Stack]:
    from changetrack.models import Connection

    token = secrets.token_urlsafe(24)
    conn = Connection(integration="generic", name="chaos")
    conn.set_secrets({}, {"token": token})
    conn.save()
    redis = procs.ThrowawayRedis()
    redis.start()
    env = procs.child_env(procs.test_database_url(), redis.url, INGEST_BATCH_SIZE="500")
    web, port = procs.gunicorn(env, tmp_path / "gunicorn.log", workers=2)
    s = Stack(tmp_path, redis, env, web, port, conn.webhook_path, token)
    try:
        yield s
    finally:
        s.stop_supervising()
        if s.worker:
            s.worker.kill()
        web.kill()
        redis.cleanup()
        from django.db import connection

        connection.close()  # the server may have restarted under us: reconnect for the teardown flush
