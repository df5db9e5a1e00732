"""Log lines are JSON on stdout with every ``extra`` field, the web request's id and the Celery task's id."""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest
from django.test import Client
from django.utils import timezone

from changetrack.ingest.tasks import drain_deliveries
from changetrack.models import Delivery

Lines = Callable[[], list[dict]]


@contextmanager
def console_lines() -> Iterator[Lines]:
    """What the real ``console`` handler (our formatter and filter) writes, read back as parsed JSON lines."""
    handler = next(h for h in logging.getLogger().handlers if h.name == "console")
    assert isinstance(handler, logging.StreamHandler)
    stream = io.StringIO()
    previous = handler.setStream(stream)
    try:
        yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    finally:
        handler.setStream(previous)


def test_an_extra_field_arrives_in_the_json_line(caplog):
    caplog.set_level(logging.INFO)
    with console_lines() as lines:
        logging.getLogger("changetrack.partitions").info(
            "partitions.partition.created", extra={"table": "changetrack_change", "partition": "p20261205"}
        )
    [line] = lines()
    assert line["message"] == "partitions.partition.created"
    assert (line["level"], line["logger"]) == ("INFO", "changetrack.partitions")
    assert (line["table"], line["partition"]) == ("changetrack_change", "p20261205")
    assert "request_id" not in line and "task_id" not in line


def _post_unverified(conn, **headers: str):
    return Client().post(
        conn.webhook_path, b"{}", content_type="application/json", HTTP_X_CHANGETRACK_TOKEN="wrong", **headers
    )


@pytest.mark.django_db
def test_a_web_requests_log_line_carries_the_request_id_its_response_shows(caplog, connection_factory):
    conn = connection_factory(hashed={"token": "right"})
    caplog.set_level(logging.INFO)
    with console_lines() as lines:
        response = _post_unverified(conn)
    assert response.status_code == 401
    request_id = response["X-Request-ID"]
    assert len(request_id) == 32
    [line] = [line for line in lines() if line["message"] == "ingest.delivery.unverified"]
    assert line["request_id"] == request_id
    assert line["connection"] == str(conn.pk)


@pytest.mark.django_db
def test_a_sane_request_id_from_the_caller_is_kept_and_an_odd_one_is_replaced(caplog, connection_factory):
    conn = connection_factory(hashed={"token": "right"})
    caplog.set_level(logging.INFO)
    with console_lines() as lines:
        kept = _post_unverified(conn, HTTP_X_REQUEST_ID="lb-7f3a.01")
        replaced = _post_unverified(conn, HTTP_X_REQUEST_ID='x" level=ERROR\nforged')
    assert kept["X-Request-ID"] == "lb-7f3a.01"
    assert replaced["X-Request-ID"] != 'x" level=ERROR\nforged' and len(replaced["X-Request-ID"]) == 32
    ids = [line["request_id"] for line in lines() if line["message"] == "ingest.delivery.unverified"]
    assert ids == ["lb-7f3a.01", replaced["X-Request-ID"]]


@pytest.mark.django_db(transaction=True)
def test_a_celery_tasks_log_line_carries_its_task_id_and_name(connection_factory, celery_worker):
    conn = connection_factory()
    pending = {"integration": "generic", "event_type": "change", "body": b"{}", "headers": {}}
    Delivery.objects.create(connection=conn, received_at=timezone.now(), **pending)
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.INFO)  # the test worker set WARNING; the drain's summary is INFO
    try:
        with console_lines() as lines:
            result = drain_deliveries.delay()
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and not any(line["message"] == "ingest.drain.done" for line in lines()):
                time.sleep(0.1)
    finally:
        root.setLevel(level)
    [line] = [line for line in lines() if line["message"] == "ingest.drain.done"]
    assert line["task_id"] == result.id
    assert line["task_name"] == "changetrack.ingest.tasks.drain_deliveries"
    assert line["claimed"] == 1


def test_log_format_text_gives_readable_lines_with_the_extra_fields():
    code = (
        "import django, logging; django.setup();"
        " logging.getLogger('changetrack.ingest.kick').warning('ingest.kick.failed', extra={'error': 'refused'})"
    )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "changetrack.settings", "LOG_FORMAT": "text"}
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.rstrip().endswith("WARNING changetrack.ingest.kick ingest.kick.failed error='refused'")


def test_an_unknown_log_format_fails_at_start_up_naming_the_variable():
    env = {**os.environ, "LOG_FORMAT": "xml"}
    proc = subprocess.run([sys.executable, "manage.py", "check"], env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0
    assert "LOG_FORMAT must be json or text" in proc.stderr


def test_credentials_in_a_log_line_are_their_keyed_hash(caplog):
    caplog.set_level(logging.INFO)
    with console_lines() as lines:
        try:
            raise ConnectionError("could not reach postgres://app:hunter2-db-pass@db:5432/ct")
        except ConnectionError:
            logging.getLogger("changetrack.test").exception(
                "calling %s failed",
                "https://hooks.example.com/?token=tok-in-the-url-123",
                extra={"api_token": "xoxb-plain-slack-token", "url": "https://ops:pw-in-url-77@grafana.example.com/"},
            )
    [line] = lines()
    text = json.dumps(line)
    for secret in ("hunter2-db-pass", "tok-in-the-url-123", "xoxb-plain-slack-token", "pw-in-url-77"):
        assert secret not in text
    assert line["message"].startswith("calling https://hooks.example.com/?token=hmac-sha256:")
    assert line["api_token"].startswith("hmac-sha256:")
    assert "grafana.example.com" in line["url"] and "ConnectionError" in line["exc_info"]
