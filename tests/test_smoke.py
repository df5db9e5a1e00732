import json

import pytest

from changetrack.ingest import pipeline
from changetrack.models import Change, Delivery

pytestmark = pytest.mark.django_db


def _body(external_id="e1"):
    return json.dumps({"type": "change", "service": {"name": "api", "namespace": "shop", "cluster": "prod"},
                       "kind": "deploy", "summary": "Deploy api 1.2", "timestamp": "2026-11-21T10:04:00Z",
                       "external_id": external_id})


def test_a_generic_delivery_becomes_one_change_even_when_posted_twice(client, connection_factory, redis_client):
    conn = connection_factory(hashed={"token": "s3cret"})
    first = client.post(conn.webhook_path, _body(), content_type="application/json", HTTP_X_CHANGETRACK_TOKEN="s3cret")
    second = client.post(conn.webhook_path, _body(), content_type="application/json", HTTP_X_CHANGETRACK_TOKEN="s3cret")
    assert (first.status_code, second.status_code) == (202, 200)
    pipeline.drain()
    change = Change.objects.get(source="generic", external_id="e1")
    assert change.service.name == "api" and change.service.cluster.name == "prod"
    assert Delivery.objects.count() == 1
