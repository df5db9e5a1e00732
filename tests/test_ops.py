"""Operations endpoints (``changetrack.ops``): liveness, readiness, Prometheus metrics."""

import pytest


def test_healthz_answers_without_the_database(client):
    assert client.get("/healthz").json() == {"status": "ok"}


@pytest.mark.django_db
def test_readyz_checks_database_and_broker(client, redis_client):
    body = client.get("/readyz").json()
    assert body["checks"] == {"database": "ok", "broker": "ok"}


@pytest.mark.django_db
def test_metrics_are_prometheus_text(client):
    response = client.get("/metrics")
    assert response.status_code == 200 and b"changetrack_open_alerts" in response.content
