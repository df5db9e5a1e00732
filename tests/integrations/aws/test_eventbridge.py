"""EventBridge API destinations through the real receiver: the API-key header, store-then-202, services mapped by
rules (one event on several services), and unmapped events grouped by resource on the unmapped page."""

from __future__ import annotations

import pytest

from changetrack.models import Change, Connection, Delivery, Service, ServiceAlias
from changetrack.resolution import remap_unmapped
from changetrack.web import unmapped
from tests.integrations.helpers import drain, fixture_body, fixture_json, post

pytestmark = pytest.mark.django_db
KEY = "eb-api-key-0123456789"


@pytest.fixture
def conn(connection_factory):
    return connection_factory("aws", hashed={"api_key": KEY})


def event_id(name: str) -> str:
    return fixture_json("aws", name)["detail"]["eventID"]


def test_the_right_api_key_in_x_api_key_is_accepted_and_stored_before_processing(client, conn, redis_client):
    response = post(client, conn, fixture_body("aws", "revoke_security_group_ingress"), {"x-api-key": KEY})
    assert response.status_code == 202 and response.json()["status"] == "accepted"
    assert Delivery.objects.get().status == "pending"  # stored first; the pipeline makes the change later
    drain()
    change = Change.objects.get()
    assert change.kind == "infra" and change.external_id == event_id("revoke_security_group_ingress")


@pytest.mark.parametrize(
    ("headers", "reason"),
    [({"x-api-key": "wrong"}, "wrong API key"), ({}, "'x-api-key' missing"), ({"Authorization": KEY}, "missing")],
)
def test_a_wrong_or_missing_api_key_is_refused_and_nothing_is_stored(client, conn, headers, reason):
    response = post(client, conn, fixture_body("aws", "revoke_security_group_ingress"), headers)
    assert response.status_code == 401 and reason in response.json()["detail"]
    assert response["Content-Type"] == "application/problem+json"
    assert not Delivery.objects.exists()


def test_the_api_key_header_named_on_the_connection_is_the_one_checked(client, connection_factory, redis_client):
    conn = connection_factory("aws", hashed={"api_key": KEY}, config={"api_key_header": "X-Changetrack-Key"})
    body = fixture_body("aws", "put_parameter")
    assert post(client, conn, body, {"x-api-key": KEY}).status_code == 401
    assert post(client, conn, body, {"X-Changetrack-Key": KEY}).status_code == 202


def test_a_connection_without_an_api_key_refuses_eventbridge(client, connection_factory):
    conn = connection_factory("aws")
    response = post(client, conn, fixture_body("aws", "put_parameter"), {"x-api-key": "anything"})
    assert response.status_code == 401 and "no EventBridge API key" in response.json()["detail"]


def test_a_body_that_is_not_an_event_is_a_400_problem(client, conn):
    response = post(client, conn, b'["not", "an", "event"]', {"x-api-key": KEY})
    assert response.status_code == 400 and response["Content-Type"] == "application/problem+json"
    response = post(client, conn, b'{"detail-type": "AWS API Call via CloudTrail", "detail": {}}', {"x-api-key": KEY})
    assert response.status_code == 400 and "eventName" in response.json()["detail"]


def test_a_security_group_mapped_to_two_services_puts_the_change_on_both(client, connection_factory, redis_client):
    checkout = Service.objects.create(namespace="shop", name="checkout")
    payments = Service.objects.create(namespace="shop", name="payments")
    rules = "sg-0a1b2c3d4e5f6* => shop/checkout, shop/payments; arn:aws:rds:*:db:orders-* => orders"
    conn = connection_factory("aws", hashed={"api_key": KEY}, config={"service_rules": rules})
    post(client, conn, fixture_body("aws", "revoke_security_group_ingress"), {"x-api-key": KEY})
    drain()
    ident = event_id("revoke_security_group_ingress")
    stored = {c.external_id: c.service_id for c in Change.objects.all()}
    assert stored == {f"{ident}/shop/checkout": checkout.pk, f"{ident}/shop/payments": payments.pk}


def test_a_tag_carried_in_the_event_names_the_service(client, connection_factory, redis_client):
    orders = Service.objects.create(namespace="shop", name="orders")
    conn = connection_factory("aws", hashed={"api_key": KEY}, config={"service_rules": "tag:service"})
    post(client, conn, fixture_body("aws", "modify_db_instance"), {"x-api-key": KEY})
    drain()
    assert Change.objects.get().service_id == orders.pk


def test_unmapped_events_are_grouped_by_resource_and_mapping_a_group_maps_its_changes(client, conn, redis_client):
    for name in ("revoke_security_group_ingress", "authorize_security_group_ingress", "modify_db_instance"):
        assert post(client, conn, fixture_body("aws", name), {"x-api-key": KEY}).status_code == 202
    drain()
    found = {g.pairs: g.changes for g in unmapped.groups() if g.source == "aws"}
    assert found == {(("aws_resource", "sg-0a1b2c3d4e5f60718"),): 2, (("aws_resource", "orders-prod"),): 1}
    checkout = Service.objects.create(namespace="shop", name="checkout")
    ServiceAlias.objects.create(source="aws", key="aws_resource", value="sg-0a1b2c3d4e5f60718", service=checkout)
    remap_unmapped()
    assert Change.objects.filter(service=checkout).count() == 2


def test_the_unmapped_page_lists_an_aws_resource(admin_client, conn, client, redis_client):
    post(client, conn, fixture_body("aws", "modify_db_parameter_group"), {"x-api-key": KEY})
    drain()
    page = admin_client.get("/unmapped/")
    assert page.status_code == 200 and b"orders-pg15" in page.content


def test_a_connection_made_from_the_setup_form_stores_the_api_key_as_a_hash(admin_client, client, redis_client):
    form = admin_client.get("/integrations/new/aws/").content.decode()
    assert '<input type="password" name="cfg_api_key"' in form and 'name="cfg_service_rules"' in form
    response = admin_client.post(
        "/integrations/new/aws/",
        {"name": "prod account", "cfg_api_key": KEY, "cfg_api_key_header": "x-eb-key", "cfg_regions": "eu-west-1"},
    )
    assert response.status_code == 200
    conn = Connection.objects.get(name="prod account")
    assert KEY not in str(conn.secret_hashes) and KEY.encode() not in bytes(conn.secrets_encrypted or b"")
    assert conn.config["api_key_header"] == "x-eb-key"
    assert post(client, conn, fixture_body("aws", "update_service"), {"x-eb-key": KEY}).status_code == 202
