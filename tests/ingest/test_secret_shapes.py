"""Credentials are scrubbed by their shape wherever they sit, not only under a key named like one.

A change whose secrets hide under innocent names (``env.DATABASE_URL``, ``config.value``, ``args``, ``notes``,
``headers`` as ``[name, value]`` pairs, a diff's before/after) is posted through the real API and through the
generic webhook (real receiver, real pipeline); the rows read back from PostgreSQL and the log lines written on
the way hold none of them. The table here says what only looks like a credential (a git SHA, an image
digest, a UUID, a version); the shapes that are credentials are rows of ``test_scrubbing``'s text table.
"""

from __future__ import annotations

import json
import logging
import secrets

import pytest

from changetrack.models import ApiToken, Change
from integrations.scrub import scrub_text, scrub_value
from tests.database_text import all_database_text
from tests.ingest.test_scrubbing import _connection, _leaks
from tests.test_logs import console_lines


def _alnum(n: int, alphabet: str = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789") -> str:
    return "".join(secrets.choice(alphabet) for _ in range(n))


def _secrets() -> dict[str, str]:
    """One fresh credential of each shape (fresh per test, so a hit can only come from this test's rows)."""
    upper = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
    return {
        "url_password": f"s3cret-{_alnum(10)}",
        "argv_password": f"hunter2-{_alnum(10)}",
        "bearer": f"{_alnum(12)}.{_alnum(10)}.{_alnum(10)}",
        "aws": "AKIA" + _alnum(16, upper),
        "header_pair": f"k-{_alnum(12)}",
        "github": "ghp_" + _alnum(36),
        "slack": f"xoxb-{_alnum(12)}-{_alnum(24)}",
        "jwt": f"eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiI{_alnum(12)}.{_alnum(20)}",
        "pem": _alnum(48),
        "google": "AIza" + _alnum(35),
        "stripe": "sk_live_" + _alnum(24),
        "token_flag": f"tf-{_alnum(14)}",
        "assign": f"as-{_alnum(14)}",
        "curl_header": f"ch-{_alnum(14)}",
    }


def _details(s: dict[str, str]) -> dict:
    return {
        "env": {"DATABASE_URL": f"postgres://app:{s['url_password']}@db:5432/x", "REGION": "eu-west-1"},
        "args": ["--password", s["argv_password"], "--verbose", f"--token={s['token_flag']}"],
        "notes": f"curl -H 'Authorization: Bearer {s['bearer']}' -H 'X-Api-Key: {s['curl_header']}' https://x/y",
        "config": {"value": s["aws"], "image": "ghcr.io/acme/api@sha256:" + "ab" * 32},
        "headers": [["X-Api-Key", s["header_pair"]], ["Accept", "application/json"]],
        "tokens": [s["github"], s["slack"], s["google"]],
        "session": {"value": s["jwt"]},
        "key_file": f"-----BEGIN OPENSSH PRIVATE KEY-----\n{s['pem']}\n-----END OPENSSH PRIVATE KEY-----\n",
        "billing": f"using {s['stripe']} for checkout",
        "run": f"deploy.sh client_secret={s['assign']} replicas=3",
    }


def _assert_kept(text: str) -> None:
    """What is no credential survived beside what was scrubbed."""
    for kept in ("postgres://app:", "@db:5432/x", "eu-west-1", "--verbose", "application/json", "replicas=3"):
        assert kept in text, kept
    assert "sha256:" + "ab" * 32 in text


@pytest.mark.django_db
def test_credentials_under_innocent_names_posted_to_the_api_are_stored_nowhere(client, redis_client, caplog):
    caplog.set_level(logging.INFO)
    s = _secrets()
    _, token = ApiToken.issue("shapes-writer", ["read", "write"])
    change = {
        "service": {"name": "checkout", "namespace": "shop"},
        "kind": "config",
        "summary": f"Rotate keys: export STRIPE={s['stripe']} AWS={s['aws']}",
        "timestamp": "2026-11-21T10:04:00Z",
        "external_id": "shapes-1",
        "details": _details(s),
        "diff": [{"path": "config.value", "before": s["aws"], "after": s["github"]}],
    }
    alert = {
        "service": "checkout",
        "title": f"401 from upstream with Bearer {s['bearer']}",
        "severity": "critical",
        "status": "triggered",
        "timestamp": "2026-11-21T10:11:30Z",
        "external_id": "shapes-alert-1",
        "details": _details(s),
    }
    with console_lines() as lines:
        for path, body in (("/api/v1/changes", change), ("/api/v1/alerts", alert)):
            answer = client.post(
                path, json.dumps(body), content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {token}"
            )
            assert answer.status_code == 201, answer.content
            assert _leaks(answer.content.decode(), list(s.values())) == []
        logged = json.dumps(lines())

    stored = Change.objects.get(external_id="shapes-1")
    assert stored.details["args"][1].startswith("hmac-sha256:") and stored.diff[0]["before"].startswith("hmac-")
    database = all_database_text()
    assert _leaks(database, list(s.values())) == []
    assert _leaks(logged, list(s.values())) == []
    _assert_kept(database)


@pytest.mark.django_db
def test_credentials_under_innocent_names_sent_to_the_generic_webhook_are_stored_nowhere(client, redis_client):
    from changetrack.ingest import pipeline

    s = _secrets()
    conn, signing = _connection("generic")
    body = json.dumps(
        {
            "type": "change",
            "service": "shop/checkout",
            "kind": "config",
            "summary": f"Deploy with {s['jwt']}",
            "timestamp": "2026-11-21T10:04:00Z",
            "external_id": "shapes-hook-1",
            "actor": "ops",
            "details": _details(s),
        }
    ).encode()
    with console_lines() as lines:
        answer = client.post(conn.webhook_path, data=body, content_type="application/json", headers=signing(body))
        assert answer.status_code == 202, answer.content
        pipeline.drain()
        logged = json.dumps(lines())

    stored = Change.objects.get(external_id="shapes-hook-1")
    assert stored.details["headers"][0][1].startswith("hmac-sha256:")
    database = all_database_text()
    assert _leaks(database, list(s.values())) == []
    assert _leaks(logged, list(s.values())) == []
    _assert_kept(database)


@pytest.mark.parametrize(
    "text",
    [
        "3f786850e387550fdab836ed7e6dc881de23001b",  # git SHA
        "ghcr.io/acme/api@sha256:" + "0123456789abcdef" * 4,  # image digest
        "sha256:" + "f" * 64,
        "7c9e6679-7425-40de-944b-e07fc1f98b2d",  # UUID
        "2.14.0",
        "v1.2.3-rc.1+build.5",
        "checkout-api-7d9f8b6c4-x2k9p",  # pod name
        "Asia/Tokyo",
        "AKIA is the prefix of an access key id",
        "deployed by gh_actions from ghp branch",
        "eyJ alone is not a token",
        "-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIU\n-----END CERTIFICATE-----",
        "sk_live_ is the prefix of a Stripe secret key",
        "arn:aws:iam::123456789012:role/deploy",
        "https://github.com/acme/checkout/commit/3f786850e387550fdab836ed7e6dc881de23001b",
    ],
)
def test_what_only_looks_like_a_credential_is_left_alone(text):
    assert scrub_text(text, b"k") == text


def test_a_header_pair_hides_its_value_but_a_pair_of_tags_stays():
    value = {
        "headers": [["X-Api-Key", "k1"], ["Authorization", "opaque"], ["Accept", "text/html"]],
        "tags": ["auth", "payments"],
        "pair": ("api_key", "k2"),
    }
    out = scrub_value(value, b"k")
    assert out["headers"][0][1].startswith("hmac-") and out["headers"][1][1].startswith("hmac-")
    assert out["headers"][2] == ["Accept", "text/html"] and out["tags"] == ["auth", "payments"]
    assert out["pair"][1].startswith("hmac-") and isinstance(out["pair"], tuple)
