"""Signatures and shared secrets: wrong, truncated, absent, of another body, replayed — rejected or deduplicated;
every integration compares secrets in constant time."""

from __future__ import annotations

import ast
import hashlib
import hmac
import inspect
import json
import textwrap

import pytest
from django.test import Client

from changetrack.ingest import pipeline
from changetrack.models import Change, Delivery
from integrations import registry
from integrations.base import VerificationError, verify_hmac_sha256

pytestmark = pytest.mark.django_db
TOKEN = "right-token-0123456789abcdef"
BODY = json.dumps(
    {
        "type": "change",
        "service": "api",
        "kind": "deploy",
        "summary": "Deploy api",
        "timestamp": "2026-11-21T10:00:00Z",
        "external_id": "sig-1",
    }
).encode()


def _post(path: str, body: bytes, **headers: str) -> int:
    return Client().generic("POST", path, body, content_type="application/json", **headers).status_code


@pytest.mark.parametrize(
    "token",
    [
        None,
        "",
        "wrong-token",
        TOKEN[:-1],
        TOKEN[:8],
        TOKEN + "x",
        TOKEN.upper(),
        " " + TOKEN,
        hashlib.sha256(TOKEN.encode()).hexdigest(),
    ],
)
def test_a_generic_webhook_with_a_wrong_truncated_or_absent_token_is_401_and_stores_nothing(
    connection_factory, redis_client, token
):
    conn = connection_factory(hashed={"token": TOKEN})
    headers = {} if token is None else {"HTTP_X_CHANGETRACK_TOKEN": token}
    assert _post(conn.webhook_path, BODY, **headers) == 401
    assert Delivery.objects.count() == 0


def test_the_token_of_another_connection_is_rejected(connection_factory, redis_client):
    mine = connection_factory(hashed={"token": TOKEN})
    connection_factory(hashed={"token": "other-connection-token"}, name="other")
    assert _post(mine.webhook_path, BODY, HTTP_X_CHANGETRACK_TOKEN="other-connection-token") == 401


def test_a_replayed_delivery_is_answered_200_and_stored_once(connection_factory, redis_client):
    conn = connection_factory(hashed={"token": TOKEN})
    statuses = [_post(conn.webhook_path, BODY, HTTP_X_CHANGETRACK_TOKEN=TOKEN) for _ in range(3)]
    assert statuses == [202, 200, 200]
    pipeline.drain()
    assert Delivery.objects.count() == 1
    assert Change.objects.filter(external_id="sig-1").count() == 1


def test_two_deliveries_whose_long_keys_share_a_255_character_prefix_are_both_kept(connection_factory, redis_client):
    conn = connection_factory(hashed={"token": TOKEN})
    prefix = "x" * 300
    for suffix in ("a", "b"):
        body = json.loads(BODY)
        body["external_id"] = prefix + suffix
        assert _post(conn.webhook_path, json.dumps(body).encode(), HTTP_X_CHANGETRACK_TOKEN=TOKEN) == 202
    pipeline.drain()
    assert Change.objects.count() == 2


@pytest.mark.parametrize("case", ["wrong secret", "other body", "truncated", "absent", "no secret configured"])
def test_hmac_signatures_that_do_not_match_the_exact_body_and_secret_are_rejected(case):
    secret, body = "signing-secret", b'{"a": 1}'
    good = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    verify_hmac_sha256(secret, body, good)
    verify_hmac_sha256(secret, body, good.upper())  # hex case is not significant
    signature, key = {
        "wrong secret": (hmac.new(b"other", body, hashlib.sha256).hexdigest(), secret),
        "other body": (hmac.new(secret.encode(), b'{"a": 2}', hashlib.sha256).hexdigest(), secret),
        "truncated": (good[:32], secret),
        "absent": (None, secret),
        "no secret configured": (good, ""),
    }[case]
    with pytest.raises(VerificationError):
        verify_hmac_sha256(key, body, signature)


SECRETISH = ("sig", "token", "secret", "digest", "hmac", "password", "key", "auth")


def _secretish_comparisons(func: object) -> list[str]:
    """Source of ``==``/``!=`` comparisons in ``func`` that involve something named like a secret or signature."""
    tree = ast.parse(textwrap.dedent(inspect.getsource(func)))  # type: ignore[arg-type]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare) and any(isinstance(op, (ast.Eq, ast.NotEq)) for op in node.ops):
            text = ast.unparse(node)
            if any(word in text.lower() for word in SECRETISH) and "None" not in text:
                found.append(text)
    return found


@pytest.mark.parametrize("slug", sorted(registry.INTEGRATIONS))
def test_no_integration_compares_a_secret_with_equals(slug):
    """By inspection: ``verify`` (and helpers in its module) never compare a secret or signature with ``==``.
    That near misses are refused is checked by behaviour in ``tests/integrations/test_verification.py``."""
    integration = registry.INTEGRATIONS[slug]
    verify = type(integration).verify
    assert _secretish_comparisons(verify) == []
    module = inspect.getmodule(type(integration))
    for name, member in inspect.getmembers(module, inspect.isfunction):
        if member.__module__ == module.__name__ and any(w in name.lower() for w in ("verify", "sign", "auth")):
            assert _secretish_comparisons(member) == [], f"{slug}.{name}"


def test_disabling_a_connection_or_rotating_its_token_applies_at_once_despite_the_connection_cache(
    connection_factory, redis_client
):
    conn = connection_factory(hashed={"token": TOKEN})
    assert _post(conn.webhook_path, BODY, HTTP_X_CHANGETRACK_TOKEN=TOKEN) == 202  # now cached
    conn.set_secrets({}, {"token": "rotated-token-0123456789"})
    conn.save()
    assert _post(conn.webhook_path, BODY, HTTP_X_CHANGETRACK_TOKEN=TOKEN) == 401
    conn.enabled = False
    conn.save()
    assert _post(conn.webhook_path, BODY, HTTP_X_CHANGETRACK_TOKEN="rotated-token-0123456789") == 404


def test_a_change_that_bypasses_signals_applies_once_the_cache_expires(connection_factory, redis_client, settings):
    from changetrack.models import Connection

    settings.WEBHOOK_CONNECTION_CACHE_SECONDS = 0
    conn = connection_factory(hashed={"token": TOKEN})
    assert _post(conn.webhook_path, BODY, HTTP_X_CHANGETRACK_TOKEN=TOKEN) == 202
    Connection.objects.filter(pk=conn.pk).update(enabled=False)  # no post_save signal
    assert _post(conn.webhook_path, BODY, HTTP_X_CHANGETRACK_TOKEN=TOKEN) == 404
