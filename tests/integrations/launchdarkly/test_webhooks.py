"""LaunchDarkly webhooks through the real receiver and pipeline, one test per fixture."""

from __future__ import annotations

import json

import pytest

from changetrack.ingest import pipeline
from changetrack.models import Change, Delivery, Service, ServiceAlias
from integrations.launchdarkly import LaunchDarklyIntegration
from tests.integrations.helpers import connection_fixture, drain_and_get, fixture_body, hmac_hex, last_delivery, post

pytestmark = pytest.mark.django_db
SECRET = "ld-secret"


conn = connection_fixture("launchdarkly", clear={"signing_secret": SECRET}, redis=True)


def send(client, conn, body: bytes, secret: str = SECRET):
    return post(client, conn, body, {"X-LD-Signature": hmac_hex(secret, body), "User-Agent": "LaunchDarkly/Webhook"})


def test_the_shared_test_vector_verifies():
    body = b'{"event":{"id":"evt-1"}}'

    class Secrets:
        def get(self, name):
            return "ld-secret"

    LaunchDarklyIntegration().verify(
        {"X-LD-Signature": "606c299b957b6e38d4fbb376844d47afc6bfa7a1ece9a30ae9eb2958cc49e11b"}, body, Secrets()
    )


def test_a_flag_turned_on_is_a_flag_change_with_before_and_after(client, conn):
    assert send(client, conn, fixture_body("launchdarkly", "flag_updated_on")).status_code == 202
    change = drain_and_get("launchdarkly", "66f1c2a9e4b0a1d2c3e4f5a6")
    assert change.kind == "feature_flag" and change.actor == "dana.kim@example.com"
    assert change.details["environment"] == "production" and change.details["flag"] == "new-checkout"
    assert change.details["comment"].startswith("Rolling out")
    assert change.diff == [{"path": "environments.production.on", "before": False, "after": True}]
    assert change.summary == "dana.kim@example.com turned on the flag new-checkout in production"
    assert change.occurred_at.isoformat().startswith("2024-09-23T19:34:01.337")


def test_a_rollout_change_shows_percentages_and_rules(client, conn):
    send(client, conn, fixture_body("launchdarkly", "flag_updated_rollout"))
    change = drain_and_get("launchdarkly", "66f1c3d0e4b0a1d2c3e4f5b7")
    by_path = {d["path"]: d for d in change.diff}
    assert set(by_path) == {"environments.production.fallthrough", "environments.production.rules"}
    fallthrough = by_path["environments.production.fallthrough"]
    assert fallthrough["before"]["rollout"]["percentages"] == {"new flow": 10.0, "old flow": 90.0}
    assert fallthrough["after"]["rollout"]["percentages"] == {"new flow": 50.0, "old flow": 50.0}
    assert by_path["environments.production.rules"]["after"][0]["clauses"][0]["values"] == ["NZ", "AU"]
    assert change.details["actions"] == ["updateFallthrough", "updateRules"] and change.severity == "warning"


def test_a_flag_turned_off_by_an_api_token_names_the_token(client, conn):
    send(client, conn, fixture_body("launchdarkly", "flag_turned_off_by_token"))
    change = drain_and_get("launchdarkly", "66f1c4aae4b0a1d2c3e4f5c8")
    assert change.actor == "token:deploy-bot"
    assert {"path": "environments.production.on", "before": True, "after": False} in change.diff


def test_a_flag_maps_to_a_service_through_its_tag(client, conn):
    svc = Service.objects.create(name="checkout-api", namespace="payments")
    ServiceAlias.objects.create(source="launchdarkly", key="flag_tag", value="checkout", service=svc)
    send(client, conn, fixture_body("launchdarkly", "flag_updated_rollout"))
    assert drain_and_get("launchdarkly", "66f1c3d0e4b0a1d2c3e4f5b7").service == svc


def test_a_flag_maps_to_a_service_through_its_key(client, conn):
    svc = Service.objects.create(name="web", namespace="shop")
    ServiceAlias.objects.create(source="", key="flag", value="new-checkout", service=svc)
    send(client, conn, fixture_body("launchdarkly", "flag_updated_on"))
    assert drain_and_get("launchdarkly", "66f1c2a9e4b0a1d2c3e4f5a6").service == svc


def test_a_flag_tagged_service_colon_name_maps_to_that_service_without_an_alias(client, conn):
    svc = Service.objects.create(name="checkout", namespace="shop")
    entry = json.loads(fixture_body("launchdarkly", "flag_updated_on"))
    entry["currentVersion"]["tags"] = ["mobile", "service:checkout"]
    send(client, conn, json.dumps(entry).encode())
    change = drain_and_get("launchdarkly", "66f1c2a9e4b0a1d2c3e4f5a6")
    assert change.service == svc and change.service_hint["name"] == "checkout"


def test_an_unmapped_flag_change_is_stored_unmapped(client, conn):
    send(client, conn, fixture_body("launchdarkly", "flag_updated_on"))
    change = drain_and_get("launchdarkly", "66f1c2a9e4b0a1d2c3e4f5a6")
    assert change.service is None and change.service_hint["keys"] == [["flag", "new-checkout"]]


def test_a_member_entry_is_stored_as_ignored(client, conn):
    response = send(client, conn, fixture_body("launchdarkly", "member_invited_unsupported"))
    assert response.status_code == 202 and last_delivery().status == Delivery.Status.IGNORED
    pipeline.drain()
    assert Change.objects.count() == 0


@pytest.mark.parametrize("how", ["wrong secret", "truncated", "other body", "missing", "prefixed"])
def test_a_bad_or_missing_signature_is_rejected(client, conn, how):
    body = fixture_body("launchdarkly", "flag_updated_on")
    signature = {
        "wrong secret": hmac_hex("pd-secret", body),
        "truncated": hmac_hex(SECRET, body)[:-1],
        "other body": hmac_hex(SECRET, body[:-1]),
        "prefixed": "sha256=" + hmac_hex(SECRET, body),
    }.get(how)
    headers = {"X-LD-Signature": signature} if signature else {}
    assert post(client, conn, body, headers).status_code == 401
    assert Delivery.objects.count() == 0


def test_a_replayed_entry_is_a_duplicate(client, conn):
    body = fixture_body("launchdarkly", "flag_updated_on")
    assert send(client, conn, body).status_code == 202
    assert send(client, conn, body).status_code == 200


@pytest.mark.parametrize(
    "mutate",
    [
        lambda e: e.pop("_id"),
        lambda e: e.pop("accesses"),
        lambda e: e.update(accesses=[]),
        lambda e: e.update(date="yesterday"),
        lambda e: e.update(accesses=[{"action": "updateOn", "resource": "proj/web-store:env/production"}]),
    ],
)
def test_a_malformed_flag_entry_is_a_400(client, conn, mutate):
    entry = json.loads(fixture_body("launchdarkly", "flag_updated_on"))
    mutate(entry)
    response = send(client, conn, json.dumps(entry).encode())
    assert response.status_code == 400 and Delivery.objects.count() == 0
