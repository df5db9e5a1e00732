"""Partitions and retention, service resolution, settings, operations endpoints, demo data."""

import os
import subprocess
import sys
from datetime import date, datetime, timedelta, timezone

import pytest
from django.conf import settings
from django.core.management import call_command
from django.db import connection

from changetrack import partitions
from changetrack.ingest.store import store_records
from changetrack.models import Alert, Change, Cluster, Service, ServiceAlias, Suspect
from changetrack.resolution import AmbiguousService, ServiceResolver
from integrations.base import AlertRecord, ChangeRecord, ServiceHint


def _change(ext, at, hint=None):
    return ChangeRecord(
        source="test",
        external_id=ext,
        kind="deploy",
        occurred_at=at,
        summary=ext,
        service=hint or ServiceHint(name="svc", namespace="ns", cluster="c1", create=True),
    )


@pytest.mark.django_db
def test_changes_land_in_their_day_partition_and_retention_drops_whole_days(settings):
    settings.RETENTION_DAYS = 10
    now = datetime.now(timezone.utc)
    store_records([_change("recent", now - timedelta(days=1)), _change("old", now - timedelta(days=9))])
    old_part = partitions.partition_name("changetrack_change", (now - timedelta(days=9)).date())
    assert old_part in partitions.existing_partitions("changetrack_change")
    with connection.cursor() as cur:
        cur.execute(f'SELECT count(*) FROM "{old_part}"')
        assert cur.fetchone()[0] == 1
    report = partitions.maintain(today=(now + timedelta(days=3)).date())  # 12 days later: "old" is past retention
    assert old_part in report["changetrack_change"]["dropped"]
    assert list(Change.objects.filter(source="test").values_list("external_id", flat=True)) == ["recent"]


@pytest.mark.django_db
def test_a_change_far_outside_the_window_goes_to_the_default_partition_and_moves_when_its_day_is_created():
    far = datetime(2031, 1, 2, 12, tzinfo=timezone.utc)
    store_records([_change("future", far)])
    with connection.cursor() as cur:
        cur.execute('SELECT count(*) FROM "changetrack_change_default"')
        assert cur.fetchone()[0] == 1
    assert partitions.create_partition("changetrack_change", date(2031, 1, 2))
    with connection.cursor() as cur:
        cur.execute('SELECT count(*) FROM "changetrack_change_default"')
        assert cur.fetchone()[0] == 0
    assert Change.objects.get(external_id="future").occurred_at == far


@pytest.mark.django_db
def test_the_same_change_stored_twice_is_one_row_and_updates_in_place():
    now = datetime.now(timezone.utc)
    first = store_records([_change("rollout-1", now)])
    updated = ChangeRecord(
        source="test",
        external_id="rollout-1",
        kind="deploy",
        occurred_at=now,
        summary="done",
        status="succeeded",
        service=ServiceHint(name="svc", namespace="ns", cluster="c1", create=True),
    )
    second = store_records([updated])
    assert first.changes[0][0] == second.changes[0][0] and second.changes[0][1] is False
    row = Change.objects.get(external_id="rollout-1")
    assert (row.summary, row.status) == ("done", "succeeded")


@pytest.mark.django_db
def test_resolution_uses_aliases_then_identity_then_env_and_never_guesses_between_several():
    prod = Cluster.objects.create(name="prod-us", env="prod,production")
    eu = Cluster.objects.create(name="prod-eu", env="prod-eu")
    us_api = Service.objects.create(cluster=prod, namespace="shop", name="api")
    eu_api = Service.objects.create(cluster=eu, namespace="shop", name="api")
    ServiceAlias.objects.create(source="datadog", key="name", value="api-gateway", service=us_api)
    r = ServiceResolver()
    assert r.resolve(ServiceHint(name="api-gateway"), "datadog") == us_api
    assert r.resolve(ServiceHint(name="api-gateway"), "pagerduty") is None
    assert r.resolve(ServiceHint(name="api", env="production")) == us_api
    assert r.resolve(ServiceHint(name="api", cluster="prod-eu", namespace="shop")) == eu_api
    assert r.resolve(ServiceHint(name="api")) is None  # two candidates, not authoritative: unmapped
    with pytest.raises(AmbiguousService) as err:
        ServiceResolver().resolve(ServiceHint(name="api", create=True))
    assert "prod-us/shop/api" in str(err.value) and "prod-eu/shop/api" in str(err.value)


@pytest.mark.django_db
def test_a_tool_that_spells_a_service_loosely_still_finds_it_when_only_one_answers():
    prod = Cluster.objects.create(name="prod-us", env="prod")
    api = Service.objects.create(cluster=prod, namespace="shop", name="checkout-api")
    payments = Service.objects.create(cluster=prod, namespace="shop", name="payments")
    r = ServiceResolver()
    assert r.resolve(ServiceHint(name="Checkout API"), "pagerduty") == api
    assert r.resolve(ServiceHint(name="CHECKOUT-API", env="prod"), "datadog") == api
    assert r.resolve(ServiceHint(name="payments-service"), "opsgenie") == payments
    assert r.resolve(ServiceHint(name="Payments Svc", namespace="shop"), "datadog") == payments
    assert r.resolve(ServiceHint(name="payments", namespace="other"), "datadog") is None  # the namespace still counts
    assert r.resolve(ServiceHint(name="checkout"), "datadog") is None  # a prefix is not a spelling
    Service.objects.create(cluster=Cluster.objects.create(name="prod-eu"), namespace="shop", name="Payments")
    assert ServiceResolver().resolve(ServiceHint(name="payments-service"), "opsgenie") is None  # two answer
    # an authoritative source names exactly: "Checkout API" from the API is a new service, not checkout-api
    created = ServiceResolver().resolve(ServiceHint(name="Checkout API", create=True), "api")
    assert created is not None and created != api and created.name == "Checkout API"


@pytest.mark.django_db
def test_an_unmapped_change_keeps_what_the_source_said():
    result = store_records([_change("u1", datetime.now(timezone.utc), ServiceHint(name="ghost", env="prod"))])
    row = Change.objects.get(pk=result.changes[0][0])
    assert row.service is None and row.service_hint == {"name": "ghost", "env": "prod"}


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


@pytest.mark.parametrize(
    "env, message",
    [
        ({"DATABASE_URL": "mysql://u:p@h/db"}, "DATABASE_URL must point to PostgreSQL"),
        ({"DEBUG": "maybe"}, "DEBUG must be true or false"),
        ({"WEBHOOK_MAX_BODY_BYTES": "lots"}, "WEBHOOK_MAX_BODY_BYTES must be an integer"),
        ({"REDIS_URL": "http://x"}, "REDIS_URL must start with"),
        (
            {"DATABASE_URL": "postgres://u:p@127.0.0.1:1/db", "DEBUG": "false", "SECRET_KEY": ""},
            "SECRET_KEY must be set",
        ),
    ],
)
def test_bad_settings_fail_fast_with_a_clear_message(env, message):
    full = {**os.environ, "SECRET_KEY": "k" * 50, **env}
    proc = subprocess.run([sys.executable, "manage.py", "check"], env=full, capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0
    assert message in proc.stderr


@pytest.mark.django_db
def test_the_demo_tells_the_incident_story():
    call_command("load_demo")
    alert = Alert.objects.get(title__contains="data-processor")
    top = Suspect.objects.filter(alert=alert).order_by("rank").first()
    change = Change.objects.get(pk=top.change_id)
    assert change.service.name == "rest-api" and "50 → 5" in change.summary
    assert Service.objects.filter(cluster__name__in=["prod-us", "prod-eu"]).count() == 12
    call_command("load_demo")  # idempotent
    assert Alert.objects.filter(source="demo").count() == 3


@pytest.mark.django_db
def test_the_demo_has_an_earlier_resolved_incident_caused_by_a_flag():
    from changetrack.models import Feedback, HealthEpisode, Incident

    call_command("load_demo")
    checkout = Alert.objects.get(source="demo", external_id="demo-am-checkout-5xx")
    frontend = Alert.objects.get(source="demo", external_id="demo-am-frontend-5xx")
    flag = Change.objects.get(external_id="demo-flag-checkout-new-payment-flow-on")
    assert checkout.status == frontend.status == "resolved"
    for alert in (checkout, frontend):
        top = Suspect.objects.get(alert=alert, rank=1)
        assert top.change_id == flag.pk
    assert checkout.incident_id is not None and checkout.incident_id == frontend.incident_id
    incident = Incident.objects.get(pk=checkout.incident_id)
    assert incident.resolved_at == frontend.resolved_at
    assert Feedback.objects.get(alert=checkout).verdict == "caused"
    assert HealthEpisode.objects.get(source="demo").service == checkout.service
    call_command("load_demo", "--reset")
    assert Incident.objects.count() == 1 and HealthEpisode.objects.filter(source="demo").count() == 1


@pytest.mark.django_db
def test_adding_an_alias_maps_records_that_arrived_unmapped():
    from changetrack.resolution import remap_unmapped

    result = store_records(
        [
            _change(
                "late-map",
                datetime.now(timezone.utc),
                ServiceHint(name="checkout-svc", keys=(("pagerduty_service", "Checkout"),)),
            )
        ]
    )
    target = Service.objects.create(name="checkout", namespace="shop")
    ServiceAlias.objects.create(key="pagerduty_service", value="checkout", service=target)
    assert remap_unmapped() == 1
    assert Change.objects.get(pk=result.changes[0][0]).service == target


@pytest.mark.django_db
def test_an_alert_that_arrived_unmapped_gets_suspects_once_an_alias_maps_it():
    from changetrack.correlation.engine import current_suspects
    from changetrack.resolution import remap_unmapped

    now = datetime.now(timezone.utc)
    api = Service.objects.create(name="payments", namespace="shop")
    deploy = store_records([_change("pay-deploy", now - timedelta(minutes=8), ServiceHint(name="payments"))])
    alert_hint = ServiceHint(name="payments-api", keys=(("datadog_service", "payments-api"),))
    stored = store_records(
        [
            AlertRecord(
                source="datadog",
                external_id="pay-1",
                title="Payments 5xx",
                status="triggered",
                occurred_at=now,
                started_at=now,
                service=alert_hint,
            )
        ]
    )
    alert = Alert.objects.get(pk=stored.alerts[0][0])
    assert alert.service is None and current_suspects(alert) == []  # computed while unmapped: nothing to rank

    ServiceAlias.objects.create(source="datadog", key="datadog_service", value="payments-api", service=api)
    assert remap_unmapped() == 1
    alert.refresh_from_db()
    assert alert.service == api
    assert [s.change_id for s in current_suspects(alert)] == [deploy.changes[0][0]]


@pytest.mark.django_db
def test_a_change_mapped_after_the_alert_was_ranked_joins_its_suspects():
    from changetrack.correlation.engine import current_suspects
    from changetrack.resolution import remap_unmapped

    now = datetime.now(timezone.utc)
    api = Service.objects.create(name="ledger", namespace="shop")
    stored = store_records(
        [
            AlertRecord(
                source="datadog",
                external_id="ledger-1",
                title="Ledger latency",
                status="triggered",
                occurred_at=now,
                started_at=now,
                service=ServiceHint(name="ledger"),
            )
        ]
    )
    alert = Alert.objects.get(pk=stored.alerts[0][0])
    assert current_suspects(alert) == []
    unmapped = store_records(
        [
            _change(
                "ledger-flag", now - timedelta(minutes=5), ServiceHint(name="ledger-v2", keys=(("flag_tag", "ledger"),))
            )
        ]
    )
    assert Change.objects.get(pk=unmapped.changes[0][0]).service is None
    ServiceAlias.objects.create(key="flag_tag", value="ledger", service=api)
    assert remap_unmapped() == 1
    alert.refresh_from_db()
    assert [s.change_id for s in current_suspects(alert)] == [unmapped.changes[0][0]]


def test_tests_use_redis_database_1_so_a_running_system_keeps_its_queue():
    from changetrack.infra import redis as shared_redis
    from tests import testenv

    db = shared_redis.client().connection_pool.connection_kwargs.get("db", 0)
    assert testenv.EXTERNAL_REDIS or db == 1, (settings.REDIS_URL, db)
