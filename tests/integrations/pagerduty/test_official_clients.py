"""The official PagerDuty Python clients, unmodified, send change events to changetrack.

Both take a base URL and append ``/v2/change/enqueue``; ``pagerduty`` accepts only an https base, so the real
app runs under gunicorn with a certificate made for this test, and each client is told to trust it.
"""

from __future__ import annotations

import ssl
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.conf import settings

from changetrack.ingest import pipeline
from changetrack.models import Change, Delivery
from tests.integrations.helpers import post
from tests.reliability import procs
from tests.tls import self_signed_certificate

ROUTING_KEY = "e93facc04764012d7bfb002500d5d1a6"


@pytest.fixture
def conn(transactional_db, connection_factory):
    return connection_factory("pagerduty", clear={"signing_secret": "s"}, hashed={"routing_key": ROUTING_KEY})


@pytest.fixture
def https_app(transactional_db, tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """(origin, CA file) of the real app served by gunicorn over https on the test database, with a Redis of
    its own (its drain kicks must not reach the other tests' broker)."""
    cert, key = self_signed_certificate(tmp_path, "changetrack-test")
    redis = procs.ThrowawayRedis()
    redis.start()
    # the test's SECRET_KEY: the connection's secrets are encrypted with a key derived from it
    env = procs.child_env(procs.test_database_url(), redis.url, SECRET_KEY=settings.SECRET_KEY)
    try:
        web, port = procs.gunicorn(env, tmp_path / "gunicorn.log", workers=1, tls=(cert, key))
        try:
            yield f"https://127.0.0.1:{port}", cert
        finally:
            web.kill()
    finally:
        redis.cleanup()


def _stored_change() -> Change:
    pipeline.drain()
    return Change.objects.get(source="pagerduty")


def test_the_pagerduty_client_sends_a_change_event_to_the_connection_url(conn, https_app):
    import pagerduty

    origin, ca = https_app
    client = pagerduty.EventsApiV2Client(
        ROUTING_KEY, base_url=origin + conn.webhook_path, verify=ssl.create_default_context(cafile=str(ca))
    )
    client.send_change_event(
        payload={
            "summary": "Deployed checkout-api v2.14.0 to prod",
            "timestamp": "2024-09-23T19:30:02.000+0000",
            "source": "github-actions/acme/checkout-api",
            "custom_details": {"service": "checkout-api", "kind": "deploy", "sha": "9f2c1e7"},
        },
        links=[{"href": "https://github.com/acme/checkout-api/actions/runs/10987654321", "text": "Workflow run"}],
    )
    change = _stored_change()
    assert (change.kind, change.summary) == ("deploy", "Deployed checkout-api v2.14.0 to prod")
    assert ROUTING_KEY.encode() not in bytes(Delivery.objects.get().body)


def test_the_pdpyras_client_sends_a_change_event_to_the_connection_url(conn, https_app, monkeypatch):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pdpyras warns at import that it is deprecated in favour of pagerduty
        import pdpyras

    origin, ca = https_app
    session = pdpyras.ChangeEventsAPISession(ROUTING_KEY)
    session.url = origin + conn.webhook_path
    # requests lets REQUESTS_CA_BUNDLE override session.verify: trust the test CA the way a deployment would
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(ca))
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    session.submit(
        "Rolled back checkout-api to v2.13.2",
        source="argo-rollouts",
        custom_details={"service": "checkout-api", "kind": "rollback"},
        timestamp="2024-09-23T19:41:00Z",
    )
    assert _stored_change().kind == "rollback"


def test_another_path_under_the_connection_url_is_a_404(client, conn, redis_client):
    from tests.integrations.helpers import fixture_body

    body = fixture_body("pagerduty", "change_event")
    assert client.post(conn.webhook_path + "v2/enqueue", body, content_type="application/json").status_code == 404
    assert post(client, conn, body).status_code == 202


def test_the_change_path_of_an_integration_without_it_is_a_404(client, connection_factory, redis_client):
    generic = connection_factory("generic", hashed={"token": "t"})
    response = client.post(generic.webhook_path + "v2/change/enqueue", b"{}", content_type="application/json")
    assert response.status_code == 404 and response["Content-Type"] == "application/problem+json"
