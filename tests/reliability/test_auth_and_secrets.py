"""Auth, CSRF, secrets and security headers of the web side; ``check --deploy`` with production settings."""

from __future__ import annotations

import logging
import os
import re
import secrets
import subprocess
import sys
import uuid

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver

from changetrack.models import ApiToken, Connection, Delivery
from tests.reliability.procs import REPO

pytestmark = pytest.mark.django_db
PUBLIC_PREFIXES = ("hooks/", "healthz", "readyz", "metrics", "api/", "login/", "admin/login/", "static/")
SAMPLE = {"int": "1", "uuid": str(uuid.uuid4()), "slug": "x", "str": "x", "path": "x"}


def _routes(resolver: URLResolver | None = None, prefix: str = "") -> list[str]:
    """Every URL pattern of ``changetrack.urls`` as a concrete path (converters filled with sample values)."""
    resolver = resolver or get_resolver()
    out: list[str] = []
    for entry in resolver.url_patterns:
        text = prefix + str(entry.pattern)
        if isinstance(entry, URLResolver):
            out += _routes(entry, text)
        elif isinstance(entry, URLPattern):
            out.append(text)
    return out


def _concrete(pattern: str) -> str | None:
    if pattern.startswith("^") or "(?P" in pattern:  # regex routes (admin internals): sample a few by hand below
        return None
    return "/" + re.sub(r"<(?:(\w+):)?\w+>", lambda m: SAMPLE.get(m.group(1) or "str", "x"), pattern)


UI_PATHS = sorted(
    {p for p in map(_concrete, _routes()) if p and not p.lstrip("/").startswith(PUBLIC_PREFIXES)}
    | {"/admin/", "/admin/changetrack/connection/", "/admin/changetrack/apitoken/"}
)


def test_there_are_ui_pages_to_check():
    assert "/" in UI_PATHS and "/admin/" in UI_PATHS and len(UI_PATHS) >= 5, UI_PATHS


@pytest.mark.parametrize("path", UI_PATHS)
def test_every_ui_page_requires_login(path):
    response = Client().get(path)
    if path.rstrip("/").endswith("logout"):
        assert response.status_code in (302, 405)  # logout is POST-only and shows nothing
        return
    assert response.status_code in (302, 401, 403), (path, response.status_code)
    if response.status_code == 302:
        assert "login" in response["Location"]


@pytest.fixture
def admin_client():
    user = get_user_model().objects.create_superuser("root", "root@example.com", "a-long-admin-password-1")
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    return client


def test_forms_reject_a_post_without_a_csrf_token(admin_client):
    anonymous = Client(enforce_csrf_checks=True)
    assert anonymous.post("/login/", {"username": "root", "password": "x"}).status_code == 403
    assert admin_client.post("/logout/").status_code == 403
    assert admin_client.post("/admin/changetrack/cluster/add/", {"name": "c"}).status_code == 403


def test_connection_secrets_and_api_tokens_are_never_rendered_in_admin_pages(admin_client):
    clear, hashed = "CLEAR-" + secrets.token_hex(12), "HASHED-" + secrets.token_hex(12)
    conn = Connection(integration="generic", name="with secrets")
    conn.set_secrets({"signing_key": clear}, {"token": hashed})
    conn.save()
    token, clear_token = ApiToken.issue("ci", [])
    pages = [
        "/admin/changetrack/connection/",
        f"/admin/changetrack/connection/{conn.pk}/change/",
        "/admin/changetrack/apitoken/",
        f"/admin/changetrack/apitoken/{token.pk}/change/",
    ]
    for page in pages:
        response = admin_client.get(page)
        assert response.status_code == 200, page
        html = response.content.decode()
        for secret in (clear, hashed, clear_token, conn.secrets_encrypted):
            assert secret not in html, page


def test_secrets_sent_with_a_webhook_never_reach_the_logs_or_the_stored_headers(
    caplog, connection_factory, redis_client
):
    right, wrong = "RIGHT-" + secrets.token_hex(12), "WRONG-" + secrets.token_hex(12)
    conn = connection_factory(hashed={"token": right})
    caplog.set_level(logging.DEBUG)
    body = b'{"type": "change", "service": "api", "kind": "deploy", "summary": "s", "timestamp": 1, "external_id": "1"}'
    client = Client()
    assert (
        client.post(
            conn.webhook_path,
            body,
            content_type="application/json",
            HTTP_X_CHANGETRACK_TOKEN=wrong,
            HTTP_AUTHORIZATION=f"Bearer {wrong}",
        ).status_code
        == 401
    )
    assert (
        client.post(
            conn.webhook_path,
            body,
            content_type="application/json",
            HTTP_X_CHANGETRACK_TOKEN=right,
            HTTP_X_API_KEY=right,
        ).status_code
        == 202
    )
    logged = "\n".join(f"{r.getMessage()} {r.__dict__}" for r in caplog.records)
    assert caplog.records, "nothing was logged: the check would prove nothing"
    assert right not in logged and wrong not in logged
    stored = Delivery.objects.get()
    assert right not in str(stored.headers) and wrong not in str(stored.headers)


@pytest.mark.parametrize("path", ["/login/", "/healthz"])
def test_security_headers_are_set(client, path):
    response = client.get(path)
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"


def test_manage_py_check_deploy_is_clean_with_production_settings():
    env = {
        **os.environ,
        "DEBUG": "false",
        "SECRET_KEY": secrets.token_urlsafe(64),
        "ALLOWED_HOSTS": "changetrack.example.com",
        "CSRF_TRUSTED_ORIGINS": "https://changetrack.example.com",
        "PUBLIC_URL": "https://changetrack.example.com",
    }
    env.pop("CHANGETRACK_EMBEDDED", None)
    for name in ("SECURE_SSL_REDIRECT", "SECURE_COOKIES", "SECURE_HSTS_SECONDS"):
        env.pop(name, None)
    done = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "no issues" in done.stdout, done.stdout + done.stderr
