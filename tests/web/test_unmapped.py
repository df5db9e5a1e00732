"""The unmapped records page: groups by what the source said, and mapping a group to a service."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client

from changetrack import roles
from changetrack.correlation.engine import current_suspects
from changetrack.ingest.store import store_records
from changetrack.models import Alert, Change, Service, ServiceAlias
from integrations.base import AlertRecord, ChangeRecord, ServiceHint
from tests.correlation.helpers import NOW

pytestmark = pytest.mark.django_db
DD_HINT = ServiceHint(name="payments-api", env="prod", keys=(("datadog_service", "payments-api"),))


@pytest.fixture
def mapper(client, django_user_model):
    user = django_user_model.objects.create_user("lead", password="x")
    roles.set_role(user, roles.RESPONDER)
    client.force_login(user)
    return client


@pytest.fixture
def world():
    payments = Service.objects.create(name="payments", namespace="shop")
    deploy = store_records(
        [
            ChangeRecord(
                source="kubernetes",
                external_id="pay-deploy",
                kind="deploy",
                occurred_at=NOW - timedelta(minutes=6),
                summary="Deploy payments 3.1",
                service=ServiceHint(name="payments", namespace="shop"),
                diff=({"path": "spec.template.spec.containers[app].image", "before": "p:3.0", "after": "p:3.1"},),
            ),
            ChangeRecord(
                source="launchdarkly",
                external_id="flag-1",
                kind="feature_flag",
                occurred_at=NOW - timedelta(hours=2),
                summary="Turned on new-ledger",
                service=ServiceHint(keys=(("flag", "new-ledger"),)),
            ),
        ]
    ).changes
    alerts = store_records(
        [
            AlertRecord(
                source="datadog",
                external_id=f"dd-{i}",
                title=f"Payments 5xx #{i}",
                status="triggered",
                occurred_at=NOW - timedelta(minutes=i),
                started_at=NOW - timedelta(minutes=i),
                service=DD_HINT,
            )
            for i in range(2)
        ]
    ).alerts
    return payments, deploy[0][0], [a for a, _ in alerts]


def test_unmapped_records_are_grouped_by_source_and_hint_alerts_first(login_as, world):
    response = login_as(roles.VIEWER).get("/unmapped/")
    assert response.status_code == 200
    groups = response.context["groups"]
    assert [(g.source, g.alerts, g.changes) for g in groups] == [("datadog", 2, 0), ("launchdarkly", 0, 1)]
    assert groups[0].pairs == (("datadog_service", "payments-api"), ("name", "payments-api"))
    assert groups[0].example == "Payments 5xx #0"
    assert "can_map" in response.context and response.context["can_map"] is False  # a viewer sees, cannot map
    assert 'action="/unmapped/map/"' not in response.content.decode()


def test_mapping_a_group_adds_a_rule_maps_the_alerts_and_gives_them_suspects(mapper, world):
    payments, deploy_id, alert_ids = world
    response = mapper.post(
        "/unmapped/map/",
        {"source": "datadog", "scope": "source", "match": "datadog_service=payments-api", "service": "shop/payments"},
        follow=True,
    )
    assert response.status_code == 200
    assert "now maps to shop/payments: 2 records mapped" in response.content.decode()
    alias = ServiceAlias.objects.get()
    assert (alias.source, alias.key, alias.value, alias.service) == (
        "datadog",
        "datadog_service",
        "payments-api",
        payments,
    )
    for alert in Alert.objects.filter(pk__in=alert_ids):
        assert alert.service == payments
        assert [s.change_id for s in current_suspects(alert)] == [deploy_id]
    assert [g.source for g in response.context["groups"]] == ["launchdarkly"]


def test_a_rule_for_any_source_has_an_empty_source(mapper, world):
    mapper.post(
        "/unmapped/map/", {"source": "launchdarkly", "scope": "any", "match": "flag=new-ledger", "service": "payments"}
    )
    assert ServiceAlias.objects.get().source == ""
    assert Change.objects.get(external_id="flag-1").service.name == "payments"


@pytest.mark.parametrize(
    ("form", "message"),
    [
        ({"match": "datadog_service=payments-api", "service": "shop/nothing"}, "no service &#x27;shop/nothing&#x27;"),
        ({"match": "datadog_service=payments-api", "service": "a/b/c/d"}, "name a service as cluster/namespace/name"),
        ({"match": "", "service": "shop/payments"}, "Choose what to match on."),
        ({"match": "datadog_service=" + "x" * 400, "service": "shop/payments"}, "Choose what to match on."),
    ],
)
def test_bad_mapping_input_says_why_and_stores_nothing(mapper, world, form, message):
    response = mapper.post("/unmapped/map/", {"source": "datadog", "scope": "source", **form}, follow=True)
    assert response.status_code == 200 and message in response.content.decode()
    assert not ServiceAlias.objects.exists()
    assert Alert.objects.filter(service__isnull=True).count() == 2


def test_a_bare_name_that_matches_several_services_is_refused(mapper, world):
    Service.objects.create(name="payments", namespace="billing")
    response = mapper.post(
        "/unmapped/map/", {"source": "datadog", "match": "name=payments-api", "service": "payments"}, follow=True
    )
    assert "matches several services" in response.content.decode()
    assert not ServiceAlias.objects.exists()


def test_a_rule_that_already_maps_elsewhere_is_not_overwritten(mapper, world):
    other = Service.objects.create(name="ledger", namespace="shop")
    ServiceAlias.objects.create(source="datadog", key="datadog_service", value="payments-api", service=other)
    response = mapper.post(
        "/unmapped/map/",
        {"source": "datadog", "match": "datadog_service=payments-api", "service": "shop/payments"},
        follow=True,
    )
    assert "already maps to shop/ledger" in response.content.decode()
    assert ServiceAlias.objects.get().service == other


def test_mapping_needs_the_responder_role_a_login_and_a_post(login_as, world):
    viewer = login_as(roles.VIEWER)
    assert viewer.post("/unmapped/map/", {"match": "name=payments-api", "service": "shop/payments"}).status_code == 403
    assert Client().get("/unmapped/").status_code == 302
    assert login_as(roles.RESPONDER).get("/unmapped/map/").status_code == 405
    assert not ServiceAlias.objects.exists()


def test_nothing_unmapped_is_an_empty_state(web):
    response = web.get("/unmapped/")
    assert "belongs to a service" in response.content.decode()
