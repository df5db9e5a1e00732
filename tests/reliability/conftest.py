"""Fixtures for fault-injection tests: real gunicorn, Celery worker and a private Redis against the test database."""

from __future__ import annotations

import json
import os
import secrets
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

    def start_worker(self, beat: bool = True, **extra_env: str) -> procs.Proc:
        env = {**self.env, **extra_env}
        self.worker = procs.celery_worker(env, self.tmp / "worker.log", beat=beat, schedule=self.tmp / "beat.schedule")
        return self.worker


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
        if s.worker:
            s.worker.kill()
        web.kill()
        redis.cleanup()
        from django.db import connection

        connection.close()  # the server may have restarted under us: reconnect for the teardown flush
