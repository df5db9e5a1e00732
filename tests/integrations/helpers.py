"""The one set of helpers for webhook integration tests: fixtures on disk, posting through the real receiver,
signing at test time, draining the real pipeline.

Fixture convention (used by ``test_contract.py`` too): ``tests/integrations/<slug>/fixtures/<event>.json`` is a
vendor body; an optional ``<event>.headers.json`` next to it holds the vendor headers that name the event or
the delivery (never a signature or secret: those are computed at test time), and ``Content-Type`` when the vendor
sends the fixture's JSON in another encoding (``application/x-www-form-urlencoded``: GitHub's ``payload=<json>``).
A fixture whose name contains ``unsupported`` or ``ignored`` must produce no records.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest

ROOT = Path(__file__).parent

#: The shared test vector of integrations.md: the 24-byte body and PagerDuty's key and expected hex.
VECTOR_BODY = b'{"event":{"id":"evt-1"}}'
VECTOR_PD_KEY = "pd-secret"
VECTOR_PD_HEX = "8c9269143118617c23615cbcbf3b102de62792341f0fd4603bb18e49723a8556"


def fixture_path(slug: str, name: str) -> Path:
    return ROOT / slug / "fixtures" / f"{name}.json"


def fixture_body(slug: str, name: str) -> bytes:
    return fixture_path(slug, name).read_bytes()


def fixture_json(slug: str, name: str) -> Any:
    return json.loads(fixture_body(slug, name))


def fixture_headers(slug: str, name: str) -> dict[str, str]:
    sidecar = ROOT / slug / "fixtures" / f"{name}.headers.json"
    return json.loads(sidecar.read_text()) if sidecar.exists() else {}


FORM = "application/x-www-form-urlencoded"


def form_encoded(body: bytes) -> bytes:
    """``body`` as GitHub sends it with content type ``application/x-www-form-urlencoded``: ``payload=<json>``."""
    return urlencode({"payload": body.decode()}).encode()


def fixture_request(slug: str, name: str) -> tuple[bytes, dict[str, str]]:
    """(body, headers) of fixture ``name`` as the vendor sends it: form-encoded when its sidecar says so."""
    headers = fixture_headers(slug, name)
    body = fixture_body(slug, name)
    return (form_encoded(body) if headers.get("Content-Type") == FORM else body), headers


def hmac_hex(key: str, body: bytes) -> str:
    return hmac.new(key.encode(), body, hashlib.sha256).hexdigest()


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def new_delivery_id() -> str:
    return str(uuid.uuid4())


def github_headers(secret: str, event: str, body: bytes, delivery: str | None = None) -> dict[str, str]:
    """What GitHub sends with ``body``: the event, a delivery id and the HMAC of the raw bytes."""
    return {
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": delivery or new_delivery_id(),
        "X-Hub-Signature-256": "sha256=" + hmac_hex(secret, body),
        "User-Agent": "GitHub-Hookshot/7d4c1a2",
    }


def as_sent(slug: str, name: str, secret: str) -> tuple[bytes, dict[str, str], dict[str, str], dict[str, str]]:
    """(body, headers, clear secrets, hashed secrets): fixture ``name`` of ``slug`` as its vendor sends it to a
    connection holding ``secret`` (signed, or carrying the secret where the vendor puts it), and the secrets
    that connection needs."""
    body, headers = fixture_request(slug, name)
    if slug == "github":
        event, delivery = headers.get("X-GitHub-Event", ""), headers.get("X-GitHub-Delivery")
        return body, {**headers, **github_headers(secret, event, body, delivery)}, {"webhook_secret": secret}, {}
    if slug == "launchdarkly":
        return body, {**headers, "X-LD-Signature": hmac_hex(secret, body)}, {"signing_secret": secret}, {}
    if slug == "pagerduty":
        payload = json.loads(body)
        if "routing_key" in payload:  # a Change Event: its routing key is its credential
            return body, headers, {"signing_secret": secret}, {"routing_key": str(payload["routing_key"])}
        signed = {**headers, "X-PagerDuty-Signature": f"v1={hmac_hex(secret, body)}"}
        return body, signed, {"signing_secret": secret}, {}
    if slug == "aws":  # an EventBridge API destination sends its connection's API key in x-api-key
        return body, {**headers, "x-api-key": secret}, {}, {"api_key": secret}
    if slug == "jenkins":  # the plugin only sends credentials from the URL: HTTP Basic
        return body, {**headers, "Authorization": basic("jenkins", secret)}, {}, {"token": secret}
    return body, {**headers, "X-Changetrack-Token": secret}, {}, {"token": secret}


def post(client: Any, conn: Any, body: bytes | str, headers: dict[str, str] | None = None) -> Any:
    """POST raw bytes to the connection's webhook URL through Django's test client (the real receiver), as
    ``application/json`` unless ``headers`` name another ``Content-Type``."""
    data = body.encode() if isinstance(body, str) else body
    rest = dict(headers or {})
    content_type = rest.pop("Content-Type", "application/json")
    return client.post(conn.webhook_path, data=data, content_type=content_type, headers=rest)


def drain() -> Any:
    """Run the real pipeline over every pending delivery."""
    from changetrack.ingest import pipeline

    return pipeline.drain()


def drain_and_get(source: str, external_id: str) -> Any:
    """Drain, then the change stored as (``source``, ``external_id``) with its service."""
    from changetrack.models import Change

    drain()
    return Change.objects.select_related("service").get(source=source, external_id=external_id)


def last_delivery() -> Any:
    from changetrack.models import Delivery

    return Delivery.objects.order_by("-received_at", "-id").first()


def post_and_drain(client: Any, conn: Any, body: bytes, headers: dict[str, str]) -> int:
    """POST, run the pipeline, return the receiver's status code."""
    status = int(post(client, conn, body, headers).status_code)
    drain()
    return status


def fixture_deliverer(slug: str, default_headers: dict[str, str]) -> Callable[..., int]:
    """``deliver(client, conn, name, headers=None, body=None)``: POST fixture ``name`` of ``slug`` (or ``body``)
    with ``default_headers`` unless ``headers`` are given, drain, return the status code."""

    def deliver(
        client: Any, conn: Any, name: str, headers: dict[str, str] | None = None, body: bytes | None = None
    ) -> int:
        sent = fixture_body(slug, name) if body is None else body
        return post_and_drain(client, conn, sent, default_headers if headers is None else headers)

    return deliver


def connection_fixture(
    slug: str, *, clear: dict[str, str] | None = None, hashed: dict[str, str] | None = None, redis: bool = False
) -> Any:
    """A ``conn`` fixture for a test module: a connection of ``slug`` holding these secrets (``redis``: the test
    needs the real Redis too, e.g. for the receiver's connection cache)."""

    @pytest.fixture
    def conn(connection_factory: Any, request: Any) -> Any:
        if redis:
            request.getfixturevalue("redis_client")
        return connection_factory(slug, clear=clear, hashed=hashed)

    return conn
