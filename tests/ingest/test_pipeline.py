"""From stored delivery to records: batches, idempotency, failures kept and replayable, the real worker."""

import json
import time

import pytest
from django.core.management import call_command

from changetrack.ingest import pipeline
from changetrack.models import Alert, Change, Delivery

TOKEN = "s3cret-token"


def change(external_id, **over):
    body = {
        "type": "change",
        "service": {"name": "api", "namespace": "shop", "cluster": "prod"},
        "kind": "deploy",
        "summary": f"Deploy {external_id}",
        "timestamp": "2026-11-21T10:04:00Z",
        "external_id": external_id,
    }
    body.update(over)
    return json.dumps(body)


def post(client, conn, body):
    return client.post(conn.webhook_path, body, content_type="application/json", HTTP_X_CHANGETRACK_TOKEN=TOKEN)


@pytest.mark.django_db
def test_a_batch_of_deliveries_becomes_changes_in_one_drain(client, connection_factory, redis_client):
    conn = connection_factory(hashed={"token": TOKEN})
    for i in range(25):
        assert post(client, conn, change(f"c{i}")).status_code == 202
    outcome = pipeline.drain()
    assert outcome.processed == 25
    assert Change.objects.filter(source="generic").count() == 25
    assert set(Delivery.objects.values_list("status", flat=True)) == {"processed"}


@pytest.mark.django_db
def test_processing_the_same_event_twice_creates_one_change(client, connection_factory, redis_client):
    conn = connection_factory(hashed={"token": TOKEN})
    post(client, conn, change("same"))
    pipeline.drain()
    Delivery.objects.update(status="pending")  # as if a worker died after storing but before marking
    pipeline.drain()
    assert Change.objects.filter(external_id="same").count() == 1


@pytest.mark.django_db
def test_a_delivery_that_fails_is_kept_with_its_error_and_can_be_replayed(client, connection_factory, redis_client):
    conn = connection_factory(hashed={"token": TOKEN})
    post(client, conn, change("ok-1"))
    # Stored as the receiver would, but with a body the parser rejects (e.g. an integration bug fixed later).
    Delivery.objects.create(
        connection=conn,
        integration="generic",
        event_type="change",
        body=b'{"type": "change"}',
        headers={},
        received_at=Delivery.objects.get().received_at,
    )
    outcome = pipeline.drain()
    assert (outcome.processed, outcome.failed) == (1, 1)
    failed = Delivery.objects.get(status="failed")
    assert "missing required field" in failed.error
    failed.body = change("fixed-later").encode()
    failed.save()
    call_command("replay_deliveries")
    failed.refresh_from_db()
    assert failed.status == "processed" and failed.attempts == 2
    assert Change.objects.filter(external_id="fixed-later").exists()


@pytest.mark.django_db
def test_an_alert_lifecycle_is_applied_in_order(client, connection_factory, redis_client):
    conn = connection_factory(hashed={"token": TOKEN})

    def alert(status, ts):
        return json.dumps(
            {
                "type": "alert",
                "service": "api",
                "title": "Errors",
                "status": status,
                "timestamp": ts,
                "external_id": "cycle-1",
            }
        )

    post(client, conn, alert("resolved", "2026-11-21T10:20:00Z"))
    post(client, conn, alert("triggered", "2026-11-21T10:00:00Z"))
    pipeline.drain()
    row = Alert.objects.get(external_id="cycle-1")
    assert row.status == "resolved"
    assert row.started_at.isoformat().startswith("2026-11-21T10:00")


@pytest.mark.django_db(transaction=True)
def test_a_real_worker_turns_a_posted_delivery_into_a_change(client, connection_factory, celery_worker):
    conn = connection_factory(hashed={"token": TOKEN})
    assert post(client, conn, change("via-worker")).status_code == 202
    assert post(client, conn, change("via-worker")).status_code == 200
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and not Change.objects.filter(external_id="via-worker").exists():
        time.sleep(0.1)
    assert Change.objects.filter(external_id="via-worker").count() == 1
    assert Delivery.objects.get().status == "processed"


@pytest.mark.django_db(transaction=True)
def test_with_the_broker_down_deliveries_are_stored_and_the_sweep_processes_them(
    client, connection_factory, redis_client, settings
):
    from changetrack.infra import redis as shared_redis
    from changetrack.ingest import tasks

    conn = connection_factory(hashed={"token": TOKEN})
    shared_redis.client.cache_clear()
    real_url = settings.REDIS_URL
    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens there: the broker is "down"
    try:
        for i in range(3):
            assert post(client, conn, change(f"down-{i}")).status_code == 202
    finally:
        settings.REDIS_URL = real_url
        shared_redis.client.cache_clear()
    assert Delivery.objects.filter(status="pending").count() == 3
    assert not Change.objects.filter(external_id__startswith="down-").exists()
    Delivery.objects.update(received_at=Delivery.objects.first().received_at)  # keep them in one partition
    from datetime import timedelta

    from django.utils import timezone

    Delivery.objects.update(received_at=timezone.now() - timedelta(seconds=30))  # older than the sweep's grace
    assert tasks.sweep_deliveries() == 3
    assert Change.objects.filter(external_id__startswith="down-").count() == 3


@pytest.mark.django_db
def test_each_delivery_of_a_batch_ends_with_its_own_status_record_count_and_error(
    client, connection_factory, redis_client
):
    from tests.integrations.helpers import fixture_body

    generic = connection_factory(hashed={"token": TOKEN})
    alertmanager = connection_factory("alertmanager", hashed={"token": "am-secret"})
    assert post(client, generic, change("one-record")).status_code == 202
    two = client.post(
        alertmanager.webhook_path,
        fixture_body("alertmanager", "group_firing"),
        content_type="application/json",
        HTTP_AUTHORIZATION="Bearer am-secret",
    )
    assert two.status_code == 202
    at = Delivery.objects.order_by("received_at").first().received_at
    common = {"connection": generic, "integration": "generic", "headers": {}, "received_at": at}
    broken = Delivery.objects.create(event_type="change", body=b'{"type": "change"}', **common)
    unknown = Delivery.objects.create(event_type="no-such-event", body=b"{}", **common)

    outcome = pipeline.drain()

    assert (outcome.processed, outcome.failed, outcome.ignored) == (2, 1, 1)
    ends = {d.pk: (d.status, d.records, d.attempts, bool(d.error)) for d in Delivery.objects.all()}
    assert ends.pop(broken.pk) == ("failed", 0, 1, True)
    assert ends.pop(unknown.pk) == ("ignored", 0, 1, True)
    assert sorted(ends.values()) == [("processed", 1, 1, False), ("processed", 2, 1, False)]
    assert all(d.processed_at is not None for d in Delivery.objects.all())
