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
from typing import Any

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


def worker_blocked_in_batch(stack: Stack, prefix: str, total: int, batch: int, blocked: int) -> tuple[Any, Any]:
    """Store ``total`` webhooks, hold the advisory lock of a change in batch number ``blocked`` (0-based) and
    start a worker: it commits the batches before that one and blocks inside it (deliveries claimed, records
    parsed, about to insert). Returns the worker and the holding connection: close it to let the batch go on."""
    import psycopg

    from changetrack.ingest.store import lock_key
    from changetrack.models import Delivery

    result = procs.burst(stack.port, stack.path, stack.token, [f"{prefix}-{i}" for i in range(total)], concurrency=8)
    assert len(result.accepted) == total, result.statuses
    body = Delivery.objects.order_by("received_at").values_list("body", flat=True)[blocked * batch + batch // 2]
    holder = psycopg.connect(procs.test_database_url(), autocommit=True)
    holder.execute("SELECT pg_advisory_lock(%s)", [lock_key("generic", json.loads(bytes(body))["external_id"])])
    worker = stack.start_worker(beat=False)
    procs.wait_for(lambda: advisory_waiters(holder) > 0, 60, f"the worker to block inside batch {blocked + 1}")
    return worker, holder


def advisory_waiters(conn: Any) -> int:
    row = conn.execute("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted").fetchone()
    return int(row[0]) if row else 0
