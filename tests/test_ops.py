"""Operations endpoints (``changetrack.ops``): liveness, readiness, Prometheus metrics."""

import pytest


def test_healthz_answers_without_the_database(client):
    assert client.get("/healthz").json() == {"status": "ok"}


@pytest.mark.django_db
def test_readyz_checks_database_and_broker(client, redis_client):
    body = client.get("/readyz").json()
    assert body["checks"] == {"database": "ok", "migrations": "ok", "broker": "ok"}


@pytest.mark.django_db
def test_readyz_fails_with_a_reason_while_a_migration_is_not_applied(client, redis_client, monkeypatch):
    from django.db import connection
    from django.db.migrations.recorder import MigrationRecorder

    from changetrack import ops

    monkeypatch.setattr(ops, "_migrated", False)  # a process that started before the migrate Job ran
    latest = max(name for app, name in MigrationRecorder(connection).applied_migrations() if app == "changetrack")
    MigrationRecorder(connection).record_unapplied("changetrack", latest)  # rolled back with the test

    response = client.get("/readyz")

    assert response.status_code == 503
    assert response.json()["checks"]["migrations"] == "error: 1 migration(s) not applied; run manage.py migrate"


@pytest.mark.django_db
def test_readyz_remembers_that_migrations_were_applied(client, redis_client, monkeypatch):
    from django.db import connection
    from django.db.migrations.recorder import MigrationRecorder

    from changetrack import ops

    monkeypatch.setattr(ops, "_migrated", False)
    assert client.get("/readyz").status_code == 200
    MigrationRecorder(connection).record_unapplied("changetrack", "0001_initial")  # not asked again: cheap probes

    assert client.get("/readyz").status_code == 200


@pytest.mark.django_db
def test_metrics_are_prometheus_text(client):
    response = client.get("/metrics")
    assert response.status_code == 200 and b"changetrack_open_alerts" in response.content
