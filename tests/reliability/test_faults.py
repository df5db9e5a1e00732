"""Faults injected into real processes: Redis killed mid-burst, a worker SIGKILLed mid-batch, PostgreSQL restarted.

The promise under test: every webhook answered 2xx ends as exactly one change; nothing is answered 500.
"""

from __future__ import annotations

import re
import threading
import time
from typing import Any

import pytest
from django.db import connection

from changetrack import embedded
from changetrack.models import Change, Delivery
from tests.reliability import procs
from tests.reliability.conftest import Stack, report, worker_blocked_in_batch


def _counts() -> tuple[int, int, int, int]:
    """(changes, distinct (source, external_id), pending deliveries, deliveries)."""
    connection.close_if_unusable_or_obsolete()
    with connection.cursor() as cur:
        cur.execute("SELECT count(*), count(DISTINCT (source, external_id)) FROM changetrack_change")
        changes, distinct = cur.fetchone()
        cur.execute("SELECT count(*) FILTER (WHERE status = 'pending'), count(*) FROM changetrack_delivery")
        pending, total = cur.fetchone()
    return changes, distinct, pending, total


def _wait_processed(expected: int, timeout: float) -> tuple[int, int, int, int]:
    deadline = time.monotonic() + timeout
    while True:
        try:
            counts = _counts()
        except Exception:  # noqa: BLE001 - the database may still be coming back; keep polling until the deadline
            connection.close()
            counts = (-1, -1, -1, -1)
        if counts[0] >= expected and counts[2] == 0 or time.monotonic() > deadline:
            return counts
        time.sleep(0.5)


@pytest.mark.slow
def _report_burst(name: str, sent: int, result: Any, counts: tuple[int, int, int], **extra: Any) -> None:
    """Report a burst under a fault: what was sent, accepted, processed, lost and duplicated."""
    changes, distinct, pending = counts
    report(
        name,
        sent=sent,
        accepted=len(result.accepted),
        processed=changes,
        lost=len(result.accepted) - distinct,
        duplicates=changes - distinct,
        pending=pending,
        statuses=dict(result.statuses),
        **extra,
    )


def test_redis_killed_in_the_middle_of_a_burst_of_5000_webhooks_loses_nothing(stack: Stack):
    stack.start_worker(beat=True)
    stack.supervise(beat=True)
    total = 5000
    down_at, up_at = 1500, 3500
    timeline: dict[str, float] = {}

    def on_progress(done: int) -> None:
        if done == down_at:
            stack.redis.kill()
            timeline["down"] = time.monotonic()
        elif done == up_at:
            stack.redis.start()
            timeline["up"] = time.monotonic()

    ids = [f"redis-{i}" for i in range(total)]
    result = procs.burst(stack.port, stack.path, stack.token, ids, concurrency=16, on_progress=on_progress)
    if not stack.redis.alive():
        stack.redis.start()
    changes, distinct, pending, deliveries = _wait_processed(len(result.accepted), timeout=180)
    _report_burst(
        "redis-killed-mid-burst",
        total,
        result,
        (changes, distinct, pending),
        seconds=round(result.seconds, 1),
        worker_restarts=stack.worker_restarts,
    )
    assert "down" in timeline and "up" in timeline
    assert set(result.statuses) <= {202, 503}, result.statuses
    assert result.server_errors == 0
    assert deliveries == len(result.accepted)
    assert (changes, distinct, pending) == (len(result.accepted), len(result.accepted), 0)
    stored = set(Change.objects.values_list("external_id", flat=True))
    assert stored == result.accepted


@pytest.mark.slow
def test_a_worker_sigkilled_mid_batch_has_its_batch_redone_with_no_loss_and_no_duplicate(stack: Stack):
    total, batch = 3000, 500
    # the worker commits three batches, then blocks inside the fourth — and is killed there
    worker, holder = worker_blocked_in_batch(stack, "kill", total, batch, blocked=3)
    before_kill = _counts()
    worker.kill()  # SIGKILL to the worker's process group
    holder.close()
    after_kill = _counts()
    assert before_kill[0] == after_kill[0] == 3 * batch, (before_kill, after_kill)
    stack.start_worker(beat=True)  # restart: queued drains or the beat sweep redo the batch
    changes, distinct, pending, deliveries = _wait_processed(total, timeout=120)
    attempts = set(Delivery.objects.values_list("attempts", flat=True))
    report(
        "worker-sigkilled-mid-batch",
        sent=total,
        accepted=total,
        committed_before_kill=after_kill[0],
        processed=changes,
        lost=total - distinct,
        duplicates=changes - distinct,
        pending=pending,
        attempts=sorted(attempts),
    )
    assert (changes, distinct, pending, deliveries) == (total, total, 0, total)
    assert attempts == {1}  # the killed batch's marks rolled back with it


@pytest.mark.slow
def test_postgresql_restarted_during_ingestion_gives_503_with_retry_after_and_loses_nothing(stack: Stack):
    stack.start_worker(beat=True)
    total = 2000
    outage: dict[str, float] = {}

    def restart_postgres() -> None:
        outage["start"] = time.monotonic()
        embedded.stop_postgres()
        time.sleep(3)
        embedded.start_postgres()
        outage["end"] = time.monotonic()

    def on_progress(done: int) -> None:
        if done == 500:
            threading.Thread(target=restart_postgres, daemon=True).start()

    ids = [f"pg-{i}" for i in range(total)]
    result = procs.burst(
        stack.port, stack.path, stack.token, ids, concurrency=8, retry_until=120, on_progress=on_progress
    )
    procs.wait_for(lambda: "end" in outage, 60, "PostgreSQL to come back")
    connection.close()
    changes, distinct, pending, deliveries = _wait_processed(total, timeout=120)
    _report_burst(
        "postgres-restarted",
        total,
        result,
        (changes, distinct, pending),
        outage_seconds=round(outage["end"] - outage["start"], 1),
    )
    assert result.statuses[503] > 0, "the outage was not observed"
    assert result.retry_after_missing == 0
    assert result.server_errors == 0, result.statuses
    assert len(result.accepted) == total
    assert (changes, distinct, pending) == (total, total, 0)


def test_with_the_database_unreachable_from_the_start_the_receiver_answers_503_with_retry_after(tmp_path):
    """The connection-time failure psycopg raises (no server on the socket) becomes a 503, not a 500."""
    import http.client

    redis = procs.ThrowawayRedis()
    redis.start()
    nowhere = f"postgresql://postgres:@/nowhere?host={tmp_path}"  # an empty directory: no server socket there
    env = procs.child_env(nowhere, redis.url)
    web = procs.Proc(
        [
            str(procs.VENV_BIN / "gunicorn"),
            "changetrack.wsgi:application",
            "--bind",
            f"127.0.0.1:{(port := procs.free_port())}",
            "--workers",
            "1",
        ],
        env,
        tmp_path / "web.log",
    ).start()
    try:
        procs.wait_for(lambda: procs._healthy(port), 60, "gunicorn")  # /healthz needs no database
        answers = {}
        for method, path in (
            ("POST", "/hooks/generic/00000000-0000-0000-0000-000000000000/"),
            ("GET", "/readyz"),
            ("GET", "/"),
        ):
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            conn.request(
                method,
                path,
                body=procs.generic_body("x") if method == "POST" else None,
                headers={"Content-Type": "application/json"},
            )
            resp = conn.getresponse()
            resp.read()
            answers[path] = (resp.status, resp.getheader("Retry-After"))
        assert answers["/hooks/generic/00000000-0000-0000-0000-000000000000/"] == (503, "5")
        assert answers["/readyz"][0] == 503
        assert answers["/"][0] in (302, 503)  # the login redirect needs no database; anything else is a 503
        assert "Traceback" not in web.output()
    finally:
        web.kill()
        redis.cleanup()


@pytest.mark.slow
def test_two_workers_draining_one_backlog_with_each_event_delivered_twice_create_each_change_once(stack: Stack):
    """SKIP LOCKED shares the backlog; advisory locks serialise the two copies of an event landing in two
    batches on two workers at once: exactly one change per (source, external_id)."""
    from celery import Celery
    from django.utils import timezone

    from changetrack.models import Connection
    from changetrack.settings import _broker_url

    conn = Connection.objects.get(integration="generic")
    total = 1500
    now = timezone.now()
    rows = []
    for copy in range(2):  # every event twice, as two deliveries (e.g. a vendor retry with a new delivery id)
        for i in range(total):
            ext = f"twice-{i if copy == 0 else total - 1 - i}"  # reversed order: the copies meet in different batches
            rows.append(
                Delivery(
                    connection=conn,
                    integration="generic",
                    event_type="change",
                    delivery_key=f"{ext}#{copy}",
                    headers={},
                    body=procs.generic_body(ext),
                    received_at=now,
                    status=Delivery.Status.PENDING,
                )
            )
    Delivery.objects.bulk_create(rows, batch_size=1000)
    first = stack.start_worker(beat=False, INGEST_BATCH_SIZE="200")
    second = procs.celery_worker({**stack.env, "INGEST_BATCH_SIZE": "200"}, stack.tmp / "worker2.log")
    try:
        sender = Celery(broker=_broker_url(stack.redis.url))
        for _ in range(6):
            sender.send_task("changetrack.ingest.tasks.drain_deliveries", queue="changetrack")
        changes, distinct, pending, deliveries = _wait_processed(total, timeout=120)
    finally:
        second.kill()
    both_worked = all(re.search(r"'claimed': [1-9]", w.output()) for w in (first, second))
    report(
        "two-workers-duplicate-deliveries",
        sent=2 * total,
        accepted=2 * total,
        processed=changes,
        lost=total - distinct,
        duplicates=changes - distinct,
        pending=pending,
        both_workers_drained=both_worked,
    )
    assert (changes, distinct, pending, deliveries) == (total, total, 0, 2 * total)
