"""The receiver's duplicate check (a unique delivery key per connection) and its debounced kick of the pipeline."""

import ast
import json
import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.db import connection, connections, transaction
from django.test import Client
from django.utils import timezone

from changetrack.celery import app as celery_app
from changetrack.infra import redis as shared_redis
from changetrack.ingest import kick, receiver, tasks
from changetrack.models import Change, Delivery, DeliveryKey

TOKEN = "s3cret-token"


def change_body(external_id: str) -> str:
    return json.dumps(
        {
            "type": "change",
            "service": {"name": "api", "namespace": "shop", "cluster": "prod"},
            "kind": "deploy",
            "summary": "Deploy api 1.2",
            "timestamp": "2026-11-21T10:04:00Z",
            "external_id": external_id,
        }
    )


def post(client, conn, external_id):
    return client.post(
        conn.webhook_path, change_body(external_id), content_type="application/json", HTTP_X_CHANGETRACK_TOKEN=TOKEN
    )


@pytest.fixture
def fresh_kick():
    """No kick window remembered from an earlier test in this process (the fixture's Redis was flushed)."""
    kick._covered_until = 0.0
    yield
    kick._covered_until = 0.0


@pytest.mark.django_db
def test_a_delivery_seen_before_the_dedupe_window_is_accepted_again(client, connection_factory, redis_client, settings):
    conn = connection_factory(hashed={"token": TOKEN})
    assert post(client, conn, "old-1").status_code == 202
    DeliveryKey.objects.update(received_at=timezone.now() - settings.DELIVERY_DEDUPE_WINDOW - timedelta(minutes=1))
    again = post(client, conn, "old-1")
    assert again.status_code == 202
    assert Delivery.objects.count() == 2
    assert post(client, conn, "old-1").status_code == 200  # the key was refreshed: a third copy is a duplicate
    assert Delivery.objects.count() == 2


@pytest.mark.django_db
def test_the_same_delivery_key_on_two_connections_is_two_deliveries(client, connection_factory, redis_client):
    first = connection_factory(hashed={"token": TOKEN})
    second = connection_factory(hashed={"token": TOKEN})
    assert post(client, first, "shared-1").status_code == 202
    assert post(client, second, "shared-1").status_code == 202
    assert Delivery.objects.count() == 2


@pytest.mark.django_db
def test_forgetting_expired_keys_keeps_those_inside_the_window(client, connection_factory, redis_client, settings):
    conn = connection_factory(hashed={"token": TOKEN})
    for external_id in ("keep-1", "drop-1"):
        assert post(client, conn, external_id).status_code == 202
    expired = timezone.now() - settings.DELIVERY_DEDUPE_WINDOW - timedelta(hours=1)
    DeliveryKey.objects.filter(delivery_key__contains="drop-1").update(received_at=expired)
    assert receiver.forget_expired_keys() == 1
    assert [k.delivery_key for k in DeliveryKey.objects.all()] == ["change:keep-1::2026-11-21T10:04:00Z"]
    assert post(client, conn, "keep-1").status_code == 200


@pytest.mark.django_db(transaction=True)
def test_a_copy_arriving_while_the_first_is_being_stored_is_a_duplicate(connection_factory, redis_client):
    """Two copies of one delivery at once (vendors retry on a slow answer): the second waits on the first's key
    and answers 200; a check-then-insert would see nothing committed yet and store both."""
    conn = connection_factory(hashed={"token": TOKEN})
    assert post(Client(), conn, "warm-up").status_code == 202  # today's partition exists and is committed
    answers: list[int] = []
    with transaction.atomic():
        first = post(Client(), conn, "race-1")  # stored, not yet committed: its key row is locked
        assert first.status_code == 202
        second = threading.Thread(target=_post_from_a_thread, args=(conn, "race-1", answers))
        second.start()
        _wait_until_blocked_on_a_lock()
    second.join(timeout=30)
    assert answers == [200]
    assert Delivery.objects.filter(delivery_key__contains="race-1").count() == 1


def _post_from_a_thread(conn, external_id: str, answers: list[int]) -> None:
    try:
        answers.append(post(Client(), conn, external_id).status_code)
    finally:
        connections.close_all()  # this thread's own database connection


def _wait_until_blocked_on_a_lock() -> None:
    with connection.cursor() as cur:
        for _ in range(300):
            cur.execute("SELECT pg_stat_clear_snapshot()")  # else the view is frozen for this transaction
            cur.execute("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'")
            if cur.fetchone()[0]:
                return
            time.sleep(0.02)
    raise AssertionError("the second copy never waited for the first")


@pytest.mark.django_db
def test_deliveries_arriving_while_a_drain_is_scheduled_neither_ask_redis_nor_enqueue_again(
    client, connection_factory, redis_client, settings, fresh_kick
):
    settings.INGEST_KICK_DELAY_MS = 60_000  # one window for the whole test
    conn = connection_factory(hashed={"token": TOKEN})
    sets_before = _redis_calls(redis_client, "set")
    for i in range(10):
        assert post(client, conn, f"burst-{i}").status_code == 202
    assert _redis_calls(redis_client, "set") - sets_before == 1
    assert redis_client.llen("changetrack") == 1  # one drain task queued for the ten deliveries
    assert redis_client.exists(kick.KEY)


@pytest.mark.django_db
def test_a_kick_that_fails_is_not_remembered_and_the_next_delivery_asks_again(
    client, connection_factory, redis_client, settings, fresh_kick
):
    conn = connection_factory(hashed={"token": TOKEN})
    shared_redis.client.cache_clear()
    real_url = settings.REDIS_URL
    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens there: the broker is "down"
    try:
        assert post(client, conn, "down-1").status_code == 202
    finally:
        settings.REDIS_URL = real_url
        shared_redis.client.cache_clear()
    assert not redis_client.exists(kick.KEY)
    assert post(client, conn, "up-1").status_code == 202
    assert redis_client.exists(kick.KEY)


@pytest.mark.django_db(transaction=True)
def test_every_delivery_of_a_burst_is_processed_by_the_drains_the_kicks_scheduled(
    connection_factory, celery_worker, fresh_kick
):
    conn = connection_factory(hashed={"token": TOKEN})
    client = Client()
    ids = [f"burst-worker-{i}" for i in range(30)]
    for external_id in ids:
        assert post(client, conn, external_id).status_code == 202
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and Change.objects.filter(external_id__in=ids).count() < len(ids):
        time.sleep(0.1)
    assert Change.objects.filter(external_id__in=ids).count() == len(ids)  # no sweep ran: the kicks covered all
    assert not Delivery.objects.filter(status="pending").exists()


def _redis_calls(client, command: str) -> int:
    return int(client.info("commandstats").get(f"cmdstat_{command}", {}).get("calls", 0))


@pytest.mark.django_db
def test_the_kick_queues_the_registered_drain_task_by_its_name(client, connection_factory, redis_client, fresh_kick):
    conn = connection_factory(hashed={"token": TOKEN})
    assert post(client, conn, "named-1").status_code == 202
    message = json.loads(redis_client.lindex("changetrack", 0))
    assert message["headers"]["task"] == kick.DRAIN_TASK
    assert celery_app.tasks[kick.DRAIN_TASK].name == tasks.drain_deliveries.name == kick.DRAIN_TASK


INGEST = Path(receiver.__file__).parent


def _ingest_imports(path: Path) -> tuple[set[str], list[str]]:
    """The ``changetrack.ingest`` modules ``path`` imports, and every import made inside a function."""
    tree = ast.parse(path.read_text())
    imported: set[str] = set()
    in_functions: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            in_functions += [
                f"{path.name}:{sub.lineno}" for sub in ast.walk(node) if isinstance(sub, (ast.Import, ast.ImportFrom))
            ]
        if isinstance(node, ast.ImportFrom) and node.module == "changetrack.ingest":
            imported |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("changetrack.ingest."):
            imported.add(node.module.rsplit(".", 1)[1])
    return imported, in_functions


def test_the_ingest_modules_import_each_other_without_a_cycle_or_an_import_hidden_in_a_function():
    """kick → tasks → receiver → kick used to be hidden by imports inside functions; the kick now sends the drain
    task by name, so every import can sit at the top of its module."""
    graph: dict[str, set[str]] = {}
    hidden: list[str] = []
    for path in sorted(INGEST.glob("*.py")):
        graph[path.stem], inside = _ingest_imports(path)
        hidden += inside
    assert hidden == []
    visiting: list[str] = []

    def visit(name: str) -> None:
        assert name not in visiting, " → ".join([*visiting[visiting.index(name) :], name])
        visiting.append(name)
        for target in graph.get(name, ()):
            visit(target)
        visiting.pop()

    for name in graph:
        visit(name)


def _alert(client, conn, status: str, timestamp: str):
    body = {
        "type": "alert",
        "service": "api",
        "title": "Error rate above 5%",
        "status": status,
        "timestamp": timestamp,
        "external_id": "refire-1",
    }
    return client.post(
        conn.webhook_path, json.dumps(body), content_type="application/json", HTTP_X_CHANGETRACK_TOKEN=TOKEN
    )


@pytest.mark.django_db
def test_a_generic_alert_firing_again_after_resolving_is_accepted_and_reopens_the_alert(
    client, connection_factory, redis_client
):
    from changetrack.ingest import pipeline
    from changetrack.models import Alert

    conn = connection_factory(hashed={"token": TOKEN})
    assert _alert(client, conn, "triggered", "2026-11-21T10:00:00Z").status_code == 202
    assert _alert(client, conn, "resolved", "2026-11-21T10:05:00Z").status_code == 202
    assert _alert(client, conn, "triggered", "2026-11-21T10:30:00Z").status_code == 202
    assert _alert(client, conn, "triggered", "2026-11-21T10:30:00Z").status_code == 200  # a retry of that firing
    pipeline.drain()
    (alert,) = Alert.objects.filter(external_id="refire-1")
    assert alert.resolved_at is None


@pytest.mark.django_db
def test_a_generic_webhook_with_an_object_as_namespace_is_refused_and_nothing_is_stored(
    client, connection_factory, redis_client
):
    conn = connection_factory(hashed={"token": TOKEN})
    body = json.loads(change_body("obj-ns"))
    body["service"]["namespace"] = {"evil": ["x"]}
    answer = client.post(
        conn.webhook_path, json.dumps(body), content_type="application/json", HTTP_X_CHANGETRACK_TOKEN=TOKEN
    )
    assert answer.status_code == 400
    assert answer["Content-Type"].startswith("application/problem+json")
    assert not Delivery.objects.exists()
