"""Bad input to the alerting receivers is a 400 (or an ignored 202), never a 500 or a traceback."""

from __future__ import annotations

import json

import pytest

from changetrack.models import Delivery
from tests.integrations.helpers import fixture_json, hmac_hex, post

pytestmark = pytest.mark.django_db

SHAPES = [b"[]", b"null", b'"text"', b"42", b"{}", b'{"a": {"b": ' * 3000 + b"1" + b"}}" * 3000, b"\xff\xfe{}"]


def _mutations(base: dict) -> list[bytes]:
    """The fixture with each top-level value replaced by wrong types."""
    out = []
    for key in base:
        for wrong in (None, 7, [], {}, "", True, [1, "x"]):
            out.append(json.dumps({**base, key: wrong}).encode())
    return out


def _check(response) -> None:
    assert response.status_code in (200, 202, 400), response.content[:300]
    if response.status_code == 400:
        assert response.json()["detail"]


@pytest.mark.parametrize(
    "slug,fixture", [("datadog", "triggered"), ("opsgenie", "create"), ("alertmanager", "group_firing")]
)
def test_shared_secret_receivers_answer_bad_bodies_with_400(client, connection_factory, redis_client, slug, fixture):
    conn = connection_factory(slug, hashed={"token": "s"})
    headers = {"X-Changetrack-Token": "s"}
    base = fixture_json(slug, fixture)
    nested = dict(base)
    bodies = SHAPES + _mutations(base)
    if slug == "alertmanager":
        bodies += [
            json.dumps({**nested, "alerts": [{**base["alerts"][0], k: w}]}).encode()
            for k in base["alerts"][0]
            for w in (None, 3, [], "", {})
        ]
        bodies += [json.dumps({**nested, "alerts": [1, "x", None]}).encode()]
    if slug == "opsgenie":
        bodies += [
            json.dumps({**nested, "alert": {**base["alert"], k: w}}).encode()
            for k in base["alert"]
            for w in (None, 3, [], "", {}, True)
        ]
    for body in bodies:
        _check(post(client, conn, body, headers))
    from tests.integrations.helpers import drain

    drain()
    assert not Delivery.objects.filter(status="failed").exists()


def test_pagerduty_answers_bad_signed_bodies_with_400(client, connection_factory, redis_client):
    conn = connection_factory("pagerduty", clear={"signing_secret": "k"}, hashed={"routing_key": "r"})
    base = fixture_json("pagerduty", "incident_triggered")
    bodies = list(SHAPES) + _mutations(base) + _mutations(base["event"])
    bodies += [
        json.dumps({"event": {**base["event"], "data": {**base["event"]["data"], k: w}}}).encode()
        for k in base["event"]["data"]
        for w in (None, 3, [], "", {}, True)
    ]
    for body in bodies:
        _check(post(client, conn, body, {"X-PagerDuty-Signature": f"v1={hmac_hex('k', body)}"}))
    change = fixture_json("pagerduty", "change_event")
    change["routing_key"] = "r"
    for key in ("payload", "links"):
        for wrong in (None, 3, [], "", {}, True, [1], [{"text": "no href"}]):
            _check(post(client, conn, json.dumps({**change, key: wrong}).encode()))
    for key in ("summary", "timestamp", "custom_details", "source"):
        for wrong in (None, 3, [], "", {}, True, "x" * 2000):
            _check(post(client, conn, json.dumps({**change, "payload": {**change["payload"], key: wrong}}).encode()))
    from tests.integrations.helpers import drain

    drain()
    assert not Delivery.objects.filter(status="failed").exists()
