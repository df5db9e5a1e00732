"""Shared fixtures. Tests run against the real (embedded or configured) PostgreSQL and Redis.

Redis database 1 is chosen in ``tests/testenv.py``, a plugin that runs before the settings load.
"""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session", autouse=True)
def _no_session_outlives_the_test_database(django_db_setup, django_db_blocker):
    """Threads that touched the database (the Celery worker, the live server) leave their connections open, and
    PostgreSQL will not drop a database that has sessions: end them before pytest-django drops it."""
    yield
    from django.db import connection

    with django_db_blocker.unblock(), connection.cursor() as cur:
        cur.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )


@pytest.fixture
def redis_client():
    from changetrack.infra import redis as shared_redis
    from changetrack.ingest import kick

    client = shared_redis.client()
    # flushing drops the kick key and any drain it scheduled: forget that this process saw one, or a delivery in
    # the next few hundred ms would count as covered by a drain that no longer exists
    kick._covered_until = 0.0
    client.flushdb()
    yield client
    kick._covered_until = 0.0
    client.flushdb()


@pytest.fixture
def celery_worker(transactional_db, redis_client):
    """A real Celery worker (solo pool, in a thread) consuming from the real Redis broker.

    Tests using it must commit their data (``transactional_db``) so the worker's connection sees it."""
    from celery.contrib.testing.worker import start_worker

    from changetrack.celery import app

    app.conf.task_always_eager = False
    with start_worker(
        app, pool="solo", concurrency=1, perform_ping_check=False, loglevel="WARNING", shutdown_timeout=30
    ) as worker:
        yield worker


@pytest.fixture
def connection_factory(db):
    from changetrack.models import Connection

    def make(
        integration: str = "generic",
        clear: dict[str, str] | None = None,
        hashed: dict[str, str] | None = None,
        config: dict | None = None,
        **kw,
    ):
        conn = Connection(
            integration=integration, name=kw.pop("name", f"{integration} test"), config=config or {}, **kw
        )
        conn.set_secrets(clear or {}, hashed or {})
        conn.save()
        return conn

    return make
