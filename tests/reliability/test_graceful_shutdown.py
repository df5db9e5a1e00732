"""SIGTERM, as an orchestrator sends it: the web process finishes the requests in flight, the Celery worker
finishes the batch in hand and leaves the rest pending for the next drain; both exit 0 and nothing is lost."""

from __future__ import annotations

import http.client
import signal
import subprocess
import threading
import time

import psycopg
import pytest
from django.db import connection

from changetrack.models import Change, Delivery
from tests.reliability import procs
from tests.reliability.conftest import Stack, report, worker_blocked_in_batch


def _relation_waiters(conn: psycopg.Connection) -> int:
    row = conn.execute("SELECT count(*) FROM pg_locks WHERE locktype = 'relation' AND NOT granted").fetchone()
    return int(row[0]) if row else 0


def _exit_within(proc: procs.Proc, seconds: float) -> tuple[int, float]:
    assert proc.proc is not None
    started = time.monotonic()
    code = proc.proc.wait(seconds)
    return code, time.monotonic() - started


@pytest.mark.slow
def test_a_worker_sent_sigterm_mid_batch_finishes_that_batch_leaves_the_rest_pending_and_exits_0(stack: Stack):
    total, batch = 3000, 500
    worker, holder = worker_blocked_in_batch(stack, "term", total, batch, blocked=3)

    assert worker.proc is not None
    worker.proc.send_signal(signal.SIGTERM)  # to the worker alone, as the kubelet signals a container's PID 1
    time.sleep(1)
    holder.close()  # the batch in hand can finish now
    code, seconds = _exit_within(worker, 60)

    connection.close()
    committed = Change.objects.count()
    pending = Delivery.objects.filter(status=Delivery.Status.PENDING).count()
    report("worker-sigterm-mid-batch", sent=total, committed_at_exit=committed, pending_at_exit=pending, exit_s=seconds)
    assert code == 0, worker.output()[-3000:]
    assert (committed, pending) == (4 * batch, total - 4 * batch)  # the fourth batch finished, none started after
    stack.start_worker(beat=True)  # the drain it asked for on its way out (or the sweep) does the rest
    procs.wait_for(lambda: Change.objects.count() == total, 120, "the rest to be processed after the restart")
    assert set(Delivery.objects.values_list("attempts", flat=True)) == {1}  # nothing redone, nothing lost


@pytest.mark.slow
def test_gunicorn_sent_sigterm_answers_the_request_in_flight_and_exits_0(stack: Stack):
    holder = psycopg.connect(procs.test_database_url(), autocommit=False)
    holder.execute("LOCK TABLE changetrack_delivery IN SHARE MODE")  # the webhook's INSERT waits behind it
    answer: dict[str, object] = {}

    def post() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", stack.port, timeout=60)
        body = procs.generic_body("in-flight")
        conn.request("POST", stack.path, body=body, headers={"X-Changetrack-Token": stack.token})
        response = conn.getresponse()
        answer["status"] = response.status

    client = threading.Thread(target=post)
    client.start()
    procs.wait_for(lambda: _relation_waiters(holder) > 0, 30, "the webhook to wait for its INSERT")
    assert stack.web.proc is not None
    stack.web.proc.send_signal(signal.SIGTERM)  # the master alone; it passes the stop on to its workers
    time.sleep(1)
    holder.rollback()  # the request in flight can finish now
    holder.close()
    client.join(30)
    code, seconds = _exit_within(stack.web, 30)

    report("gunicorn-sigterm-in-flight", status=answer.get("status"), exit_s=seconds)
    assert answer.get("status") == 202
    assert code == 0
    connection.close()
    assert Delivery.objects.filter(status=Delivery.Status.PENDING).count() == 1


def test_gunicorn_reads_the_repository_config_with_a_graceful_timeout_under_the_pod_grace_period():
    done = subprocess.run(
        [str(procs.VENV_BIN / "gunicorn"), "--print-config", "changetrack.wsgi:application"],
        cwd=procs.REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    printed = dict(line.split("=", 1) for line in done.stdout.splitlines() if "=" in line)
    values = {k.strip(): v.strip() for k, v in printed.items()}
    assert int(values["graceful_timeout"]) < 30  # Kubernetes' default terminationGracePeriodSeconds
    assert values["accesslog"] == "-"
