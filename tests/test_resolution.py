"""Service resolution (``changetrack.resolution``): aliases, identity, env, loose spellings, and remapping records
that arrived unmapped once an alias maps them."""

from datetime import datetime, timedelta, timezone

import pytest

from changetrack.ingest.store import store_records
from changetrack.models import Alert, Change, Cluster, Service, ServiceAlias
from changetrack.resolution import AmbiguousService, ServiceResolver
from integrations.base import ServiceHint
from tests.records import change, triggered_alert


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
def test_adding_an_alias_maps_records_that_arrived_unmapped():
    from changetrack.resolution import remap_unmapped

    result = store_records(
        [
            change(
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
    deploy = store_records([change("pay-deploy", now - timedelta(minutes=8), ServiceHint(name="payments"))])
    alert_hint = ServiceHint(name="payments-api", keys=(("datadog_service", "payments-api"),))
    stored = store_records([triggered_alert("pay-1", "Payments 5xx", now, alert_hint)])
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
    stored = store_records([triggered_alert("ledger-1", "Ledger latency", now, ServiceHint(name="ledger"))])
    alert = Alert.objects.get(pk=stored.alerts[0][0])
    assert current_suspects(alert) == []
    unmapped = store_records(
        [
            change(
                "ledger-flag", now - timedelta(minutes=5), ServiceHint(name="ledger-v2", keys=(("flag_tag", "ledger"),))
            )
        ]
    )
    assert Change.objects.get(pk=unmapped.changes[0][0]).service is None
    ServiceAlias.objects.create(key="flag_tag", value="ledger", service=api)
    assert remap_unmapped() == 1
    alert.refresh_from_db()
    assert [s.change_id for s in current_suspects(alert)] == [unmapped.changes[0][0]]
