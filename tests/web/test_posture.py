"""Posture: a Content-Security-Policy on every answer with no inline script, password logins throttled, the API
docs served from vendored files behind login, and /metrics and the schema public only as configured."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.staticfiles import finders
from django.test import Client, override_settings

from changetrack import roles
from changetrack.models import ApiToken

pytestmark = pytest.mark.django_db
ROOT = Path(settings.BASE_DIR)
PASSWORD = "correct horse battery staple"


def script_sources(response) -> list[str]:
    policy = response["Content-Security-Policy"]
    directives = dict((d.split() + [""])[:1] + [" ".join(d.split()[1:])] for d in policy.split(";") if d.strip())
    return directives["script-src"].split()


@pytest.mark.parametrize("path", ["/login/", "/", "/alerts/", "/api/docs", "/admin/", "/api/v1/changes", "/healthz"])
def test_every_answer_carries_a_policy_that_allows_only_our_own_scripts(login_as, path):
    response = login_as(roles.ADMIN).get(path)
    assert script_sources(response) == ["'self'"]
    assert "frame-ancestors 'none'" in response["Content-Security-Policy"]


def test_no_template_has_an_inline_script_or_event_handler():
    offenders = []
    for template in (ROOT / "templates").rglob("*.html"):
        text = template.read_text()
        inline = [m for m in re.findall(r"<script\b[^>]*>", text) if "src=" not in m]
        handlers = re.findall(r"\son[a-z]+\s*=", text)
        js_urls = re.findall(r"""href\s*=\s*["']\s*javascript:""", text, re.I)
        if inline or handlers or js_urls:
            offenders.append((template.name, inline, handlers, js_urls))
    assert not offenders


def test_nothing_is_loaded_from_another_host():
    pattern = re.compile(r"cdn\.|unpkg|jsdelivr|cdnjs|googleapis")
    hits = [
        str(p.relative_to(ROOT))
        for folder in ("templates", "changetrack")
        for p in (ROOT / folder).rglob("*")
        if p.suffix in (".html", ".py", ".js") and "vendor" not in p.parts and pattern.search(p.read_text())
    ]
    assert not hits


def login(browser: Client, username: str, password: str):
    return browser.post("/login/", {"username": username, "password": password})


def test_after_thirty_wrong_passwords_even_the_right_one_is_refused(django_user_model, redis_client):
    django_user_model.objects.create_user("oncall", password=PASSWORD)
    browser = Client()
    for _ in range(30):
        assert login(browser, "oncall", "wrong").status_code == 200
    refused = login(browser, "oncall", PASSWORD)
    assert refused.status_code == 200 and "_auth_user_id" not in browser.session
    assert "Too many failed logins: try again in 15 minutes." in refused.content.decode()
    assert browser.get("/").status_code == 302  # still not logged in


def test_the_admin_login_is_throttled_by_the_same_count(django_user_model, redis_client):
    django_user_model.objects.create_superuser("root", "", PASSWORD)
    browser = Client()
    for _ in range(settings.LOGIN_FAILURE_LIMIT):
        browser.post("/admin/login/", {"username": "root", "password": "wrong"})
    browser.post("/admin/login/", {"username": "ROOT ", "password": PASSWORD})
    browser.post("/admin/login/", {"username": "root", "password": PASSWORD})
    assert "_auth_user_id" not in browser.session


def test_a_few_mistakes_do_not_lock_anyone_out_and_others_are_not_locked_by_them(django_user_model, redis_client):
    django_user_model.objects.create_user("oncall", password=PASSWORD)
    django_user_model.objects.create_user("other", password=PASSWORD)
    browser = Client()
    for _ in range(settings.LOGIN_FAILURE_LIMIT - 1):
        login(browser, "oncall", "wrong")
    assert login(browser, "oncall", PASSWORD).status_code == 302
    for _ in range(settings.LOGIN_FAILURE_LIMIT):
        login(Client(), "oncall", "wrong")
    assert login(Client(REMOTE_ADDR="10.0.0.9"), "other", PASSWORD).status_code == 302


def test_the_api_docs_need_a_login_and_use_only_vendored_files(login_as):
    anonymous = Client().get("/api/docs")
    assert anonymous.status_code == 302 and anonymous["Location"].startswith("/login/")
    assert login_as(None).get("/api/docs").status_code == 403
    page = login_as(roles.VIEWER).get("/api/docs").content.decode()
    assets = re.findall(r'(?:src|href)="([^"]+)"', page)
    assert "/static/changetrack/vendor/swagger-ui/swagger-ui-bundle.js" in assets
    assert all(a.startswith("/") for a in assets), assets
    for name in ("swagger-ui-bundle.js", "swagger-ui.css", "LICENSE"):
        assert finders.find(f"changetrack/vendor/swagger-ui/{name}")
    assert 'data-schema-url="/api/v1/schema"' in page


def test_the_schema_is_not_public_by_default_but_a_viewer_or_a_read_token_may_read_it(login_as, redis_client):
    assert Client().get("/api/v1/schema").status_code == 401
    assert login_as(None).get("/api/v1/schema").status_code == 403
    assert login_as(roles.VIEWER).get("/api/v1/schema").status_code == 200
    _, clear = ApiToken.issue("docs", ["read"])
    assert Client().get("/api/v1/schema", HTTP_AUTHORIZATION=f"Bearer {clear}").status_code == 200
    with override_settings(API_SCHEMA_PUBLIC=True):
        assert Client().get("/api/v1/schema").status_code == 200


def test_metrics_are_public_by_default_and_need_the_token_once_one_is_set():
    assert Client().get("/metrics").status_code == 200
    with override_settings(METRICS_PUBLIC=False, METRICS_TOKEN="scrape-me"):
        assert Client().get("/metrics").status_code == 401
        assert Client().get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 401
        assert Client().get("/metrics", HTTP_AUTHORIZATION="Bearer scrape-me").status_code == 200
    with override_settings(METRICS_PUBLIC=False, METRICS_TOKEN=""):
        assert Client().get("/metrics", HTTP_AUTHORIZATION="Bearer ").status_code == 401
