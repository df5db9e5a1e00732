"""No credential is stored or shown, whatever the source (finding 2 of issue 15).

Every fixture of every integration is sent again with credentials planted in every position a vendor or a user
puts them (keys named like credentials, ``{"name": "DB_PASSWORD", "value": ...}`` parameters, URL userinfo,
``KEY=value`` and ``--flag value`` inside text, credential headers), through the real receiver and the real
pipeline; the API gets the same. Then no planted marker may appear in any table (raw deliveries included), any
page or any API answer. The Kubernetes collector's half is in ``tests/kubernetes/test_scrubbing.py``.
"""

from __future__ import annotations

import itertools
import json
import secrets
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from changetrack.ingest.scrubbing import KEPT_HEADERS
from changetrack.models import Alert, ApiToken, Change, Connection, Delivery
from integrations.scrub import keyed_hash, scrub_text, scrub_value
from tests.database_text import all_database_text
from tests.integrations.helpers import hmac_hex
from tests.integrations.test_verification import API_KEY_HEADER, HMAC_SIGNED, SHARED_SECRET

ROOT = Path(__file__).parent.parent / "integrations"
#: every fixture a sender gets a 202 for (the ``rejected`` ones are refused before anything is stored)
FIXTURES = sorted(
    p for p in ROOT.glob("*/fixtures/*.json") if not p.name.endswith(".headers.json") and "rejected" not in p.stem
)
SECRET = "s3cret-0123456789abcdef"
FREE_TEXT = {"title", "summary", "message", "text", "description", "notes", "log", "body", "comment", "name"}
CREDENTIAL_HEADERS = ("X-DD-Webhook-Key", "X-Access-Key", "X-Credentials", "X-Private-Key", "X-Signing-Key")


class Planter:
    """Plants unique markers in every credential position of a JSON value and remembers them."""

    def __init__(self) -> None:
        self.markers: list[str] = []
        self._n = itertools.count()

    def mark(self) -> str:
        marker = f"PLANTED{next(self._n):04d}X{secrets.token_hex(5).upper()}"
        self.markers.append(marker)
        return marker

    def plant(self, value: Any, key: str = "") -> Any:
        if isinstance(value, dict):
            out = {k: self.plant(v, k) for k, v in value.items()}
            out["db_password"] = self.mark()
            out["deployToken"] = self.mark()
            if isinstance(out.get("parameters"), dict):  # Jenkins build parameters
                out["parameters"].update(
                    {n: self.mark() for n in ("DB_PASSWORD", "DEPLOY_TOKEN", "AWS_SECRET_ACCESS_KEY")}
                )
            return out
        if isinstance(value, list):
            return [self.plant(v, key) for v in value]
        if isinstance(value, str) and value.startswith(("http://", "https://")):
            scheme, rest = value.split("://", 1)
            return f"{scheme}://ci-user:{self.mark()}@{rest}"
        if isinstance(value, str) and key in FREE_TEXT and value:
            return (
                f"{value} --db-password {self.mark()} DB_PASSWORD={self.mark()} "
                f"DATABASE_URL=postgres://app:{self.mark()}@db/app"
            )
        return value

    def headers(self) -> dict[str, str]:
        return {name: self.mark() for name in CREDENTIAL_HEADERS} | {"X-Vendor-Trace-Secret": self.mark()}


def _connection(slug: str) -> tuple[Connection, Any]:
    """A connection of ``slug`` and a function giving the headers that make a body verify."""
    conn = Connection(integration=slug, name=f"{slug} scrub")
    if slug in HMAC_SIGNED:
        store, headers_for = HMAC_SIGNED[slug]
        conn.set_secrets({name: SECRET for name in store._clear}, {})
        conn.save()
        return conn, lambda body: headers_for(hmac_hex(SECRET, body))
    if slug in API_KEY_HEADER:
        header, name = API_KEY_HEADER[slug]
        conn.set_secrets({}, {name: SECRET})
        conn.save()
        return conn, lambda body: {header: SECRET}
    conn.set_secrets({}, {"token": SECRET})
    conn.save()
    return conn, lambda body: SHARED_SECRET[slug](SECRET)


def _sidecar(path: Path) -> dict[str, str]:
    sidecar = path.with_name(f"{path.stem}.headers.json")
    return json.loads(sidecar.read_text()) if sidecar.exists() else {}


def _reader() -> Client:
    user = get_user_model().objects.create_superuser("scrub-reader", password="x")
    web = Client()
    web.force_login(user)
    return web


def _everything_shown(web: Client, api_token: str) -> str:
    """Every page and API answer that shows the stored changes, alerts and deliveries."""
    auth = {"HTTP_AUTHORIZATION": f"Bearer {api_token}"}
    paths = ["/changes/", "/alerts/", "/"]
    paths += [f"/changes/{pk}/" for pk in Change.objects.values_list("pk", flat=True)]
    paths += [f"/alerts/{pk}/" for pk in Alert.objects.values_list("pk", flat=True)]
    paths += [f"/integrations/{pk}/" for pk in Connection.objects.values_list("pk", flat=True)]
    api = ["/api/v1/changes", "/api/v1/alerts"]
    api += [f"/api/v1/changes/{pk}" for pk in Change.objects.values_list("pk", flat=True)]
    api += [f"/api/v1/alerts/{pk}" for pk in Alert.objects.values_list("pk", flat=True)]
    shown = []
    for path in paths:
        page = web.get(path)
        assert page.status_code == 200, path
        shown.append(page.content.decode())
    for path in api:
        answer = web.get(path, **auth)
        assert answer.status_code == 200, path
        shown.append(answer.content.decode())
    return "\n".join(shown)


def _leaks(text: str, markers: list[str]) -> list[str]:
    """Each marker found, with what surrounds it (so a failure says where it leaked)."""
    return [text[max(0, text.index(m) - 150) : text.index(m) + 30] for m in markers if m in text]


@pytest.mark.django_db
def test_no_credential_planted_in_any_fixture_is_stored_or_shown(client, redis_client):
    from changetrack.ingest import pipeline

    planter = Planter()
    sent = 0
    connections = {}
    for path in FIXTURES:
        slug = path.parent.parent.name
        if slug not in connections:
            connections[slug] = _connection(slug)
        conn, signing = connections[slug]
        body = json.dumps(planter.plant(json.loads(path.read_text(encoding="utf-8-sig")))).encode()
        headers = {**_sidecar(path), **planter.headers(), **signing(body)}
        answer = client.post(conn.webhook_path, data=body, content_type="application/json", headers=headers)
        assert answer.status_code == 202, (path.name, answer.content)
        sent += 1
    pipeline.drain()
    assert Delivery.objects.count() == sent
    assert not Delivery.objects.filter(status=Delivery.Status.FAILED).exists(), list(
        Delivery.objects.filter(status=Delivery.Status.FAILED).values_list("integration", "event_type", "error")
    )
    assert Change.objects.count() > 10 and Alert.objects.count() > 5  # the planted fixtures still became records
    kept = {name.lower() for headers in Delivery.objects.values_list("headers", flat=True) for name in headers}
    assert kept <= KEPT_HEADERS and "x-github-event" in kept  # an allow-list: vendor credential headers are dropped

    assert _leaks(all_database_text(), planter.markers) == []
    _, token = ApiToken.issue("scrub-reader", ["read"])
    assert _leaks(_everything_shown(_reader(), token), planter.markers) == []


@pytest.mark.django_db
def test_no_credential_posted_to_the_api_is_stored_or_shown(client, redis_client):
    planter = Planter()
    change = planter.plant(
        {
            "service": {"name": "checkout", "namespace": "shop"},
            "kind": "deploy",
            "summary": "Deploy checkout 2.14.0",
            "timestamp": "2026-11-21T10:04:00Z",
            "actor": "dana@example.com",
            "details": {"version": "2.14.0", "env": {"SENTRY_DSN": "https://abc@sentry.example.com/1"}},
            "links": [{"title": "Release", "url": "https://example.com/r/2.14.0"}],
            "external_id": "release-2.14.0",
        }
    )
    change["details"]["env"]["SENTRY_DSN"] = f"https://{planter.mark()}@sentry.example.com/1"
    alert = planter.plant(
        {
            "service": "checkout",
            "title": "Error rate above 5%",
            "severity": "critical",
            "status": "triggered",
            "timestamp": "2026-11-21T10:11:30Z",
            "external_id": "dd-1",
            "details": {"query": "avg:errors{*}"},
        }
    )
    # the API refuses unknown fields: planted keys stay only where any key is allowed (details)
    for body in (change, alert, *change["links"]):
        del body["db_password"], body["deployToken"]
    change["service"] = {"name": "checkout", "namespace": "shop"}
    alert["service"] = "checkout"
    _, token = ApiToken.issue("scrub-writer", ["read", "write"])
    for path, body in (("/api/v1/changes", change), ("/api/v1/alerts", alert)):
        answer = client.post(
            path, json.dumps(body), content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {token}"
        )
        assert answer.status_code == 201, answer.content
        assert _leaks(answer.content.decode(), planter.markers) == []

    assert _leaks(all_database_text(), planter.markers) == []
    assert _leaks(_everything_shown(_reader(), token), planter.markers) == []


@pytest.mark.django_db
def test_a_rotated_credential_is_still_a_visible_change(redis_client):
    """Two different secrets hash differently (a diff shows the rotation), the same secret hashes the same."""
    key = b"k"
    first = scrub_text("spring.datasource.password=first-secret\nspring.datasource.url=jdbc:pg", key)
    again = scrub_text("spring.datasource.password=first-secret\nspring.datasource.url=jdbc:pg", key)
    rotated = scrub_text("spring.datasource.password=second-secret\nspring.datasource.url=jdbc:pg", key)
    assert first == again != rotated
    assert "first-secret" not in first and "second-secret" not in rotated
    assert keyed_hash("first-secret", key) in first and "spring.datasource.url=jdbc:pg" in first


@pytest.mark.parametrize(
    ("text", "kept", "gone"),
    [
        ("DATABASE_URL=postgres://app:pass-1@db/app", "postgres://app:hmac-sha256:", "pass-1"),
        ("--db-pass=hunter2", "--db-pass=hmac-sha256:", "hunter2"),
        ("--db-password hunter2 --port 5432", "--port 5432", "hunter2"),
        ("https://user:ghp_token1@github.com/acme/app.git", "@github.com/acme/app.git", "ghp_token1"),
        ("https://x/callback?access_token=abc123&page=2", "&page=2", "abc123"),
        ("db:\n  password: hunter2\n  user: app\n", "user: app", "hunter2"),
        ('{"credentials": {"password": "hunter2"}, "port": 5432}', '"port": 5432', "hunter2"),
        ("Authorization: Bearer eyJhbGciOi.abc.def", "Authorization: Bearer hmac-sha256:", "eyJhbGciOi"),
        ("AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI", "AWS_SECRET_ACCESS_KEY=hmac-sha256:", "wJalrXUtnFEMI"),
        # known by their shape, under any name or none
        ("key AKIAIOSFODNN7EXAMPLE in use", "key hmac-sha256:", "AKIAIOSFODNN7EXAMPLE"),
        ("assumed ASIA3XFRBF53EXAMPLE1", "assumed ", "ASIA3XFRBF53EXAMPLE1"),
        ("ghp_" + "a1" * 18, "", "ghp_"),
        ("gho_" + "B2" * 18, "", "gho_"),
        ("github_pat_11ABCDEFG0123456789_abcdefghijklmnop", "", "github_pat_"),
        ("glpat-abcdefghij0123456789", "", "glpat-"),
        ("SLACK=xoxb-1234567890-abcdefghijkl", "SLACK=", "xoxb-"),
        ("xoxp-1234567890-abcdefghijkl sent", " sent", "xoxp-"),
        ("cookie eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.dBjftJeZ4CVP", "cookie ", "eyJhbGciOi"),
        ("-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKC\n-----END RSA PRIVATE KEY-----", "END RSA", "MIIEowIBAAKC"),
        ("-----BEGIN PRIVATE KEY-----\nMIIEvQIBADAN (cut off)", "BEGIN PRIVATE KEY-----", "MIIEvQIBADAN"),
        ("maps AIzaSyD-1234567890abcdefghijklmnopqrstu ok", " ok", "AIzaSyD-"),
        ("sk_live_4eC39HqLyjWDarjtT1zdp7dc", "", "sk_live_4eC39"),
        ("rk_test_4eC39HqLyjWDarjtT1zdp7dc", "", "rk_test_4eC39"),
        ("curl -H 'X-Api-Key: abcd1234' https://x", "https://x", "abcd1234"),
        ('curl --header "Authorization: Token abcd1234" x', "Authorization: Token hmac-sha256:", "abcd1234"),
        ("run --token=abc123 --port=8080", "--port=8080", "abc123"),
        (
            "posting to https://hooks.slack.com/services/T0123ABCD/B0456EFGH/aBcDeFgHiJkLmNoPqRsTuVwX now",
            "https://hooks.slack.com/services/hmac-sha256:",
            "aBcDeFgHiJkLmNoPqRsTuVwX",
        ),
        (
            "https://discord.com/api/webhooks/123456789012345678/AbCdEfGhIjKlMnOpQrStUvWxYz0123456789_-abc",
            "https://discord.com/api/webhooks/hmac-sha256:",
            "AbCdEfGhIjKlMnOpQrSt",
        ),
    ],
)
def test_credentials_inside_text_are_hashed_and_the_rest_is_kept(text, kept, gone):
    out = scrub_text(text, b"k")
    assert kept in out and gone not in out and "hmac-sha256:" in out
    assert scrub_text(out, b"k") == out  # idempotent


@pytest.mark.parametrize(
    "text",
    [
        "token:deploy-bot",  # LaunchDarkly names an API token this way: a name, not the token
        "Deployed at 10:04:00Z by dana@example.com",
        "git@github.com:acme/checkout-api.git",
        "https://jenkins.example.com/job/deploy/318/",
        "password: ${DB_PASSWORD}",
        "Deploy auth: v2.1 to prod",  # prose: only a line that starts with the name is a name: value pair
    ],
)
def test_text_without_a_credential_is_left_alone(text):
    assert scrub_text(text, b"k") == text


def test_names_that_describe_a_credential_keep_their_values_and_scrubbing_is_idempotent():
    value = {
        "author": "dana",
        "secretKeyRef": "db/password",
        "token_type": "bearer",
        "password_changed_at": "2026-11-21",
        "params": [{"name": "DB_PASSWORD", "value": "p1"}],
        "args": ["--db-pass", "p2", "--verbose"],
    }
    once = scrub_value(value, b"k")
    assert {k: once[k] for k in ("author", "secretKeyRef", "token_type", "password_changed_at")} == {
        k: value[k] for k in ("author", "secretKeyRef", "token_type", "password_changed_at")
    }
    assert once["params"][0]["value"].startswith("hmac-sha256:") and once["args"][1].startswith("hmac-sha256:")
    assert once["args"][2] == "--verbose"
    assert scrub_value(once, b"k") == once
    untouched = {"a": ["b", {"c": 1}]}
    assert scrub_value(untouched, b"k") is untouched
