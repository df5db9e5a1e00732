"""In headless Chromium against a live server: a person clicks "Sign in with SSO", passes through the local provider
and lands on the page they asked for, signed in with the role of their groups."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from django.conf import settings as django_settings

from changetrack import roles
from tests.auth.conftest import CLIENT_ID, CLIENT_SECRET, sso_env, turn_sso_on
from tests.auth.oidc_provider import LocalOIDCProvider

CHROMIUM = "/usr/bin/chromium"
SHOTS = Path(django_settings.BASE_DIR) / "artifacts" / "screenshots"

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(
        not os.path.exists(CHROMIUM),
        reason="!!! BROWSER TESTS SKIPPED: /usr/bin/chromium is missing; install it with `make e2e-deps`. !!!",
    ),
]


@pytest.mark.django_db(transaction=True)
def test_a_person_clicks_sign_in_with_sso_and_lands_signed_in_on_the_page_they_asked_for(
    live_server, settings, monkeypatch, django_user_model
):
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")  # Playwright's loop runs in this thread
    from playwright.sync_api import sync_playwright

    settings.PUBLIC_URL = live_server.url
    with LocalOIDCProvider(CLIENT_ID, CLIENT_SECRET, redirect_uri=f"{live_server.url}/oidc/callback/") as provider:
        turn_sso_on(settings, sso_env(provider))
        provider.user = {"sub": "00e2e", "preferred_username": "oncall.olga", "groups": ["oncall"]}
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
            page = browser.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))

            page.goto(f"{live_server.url}/alerts/")
            assert "/login/" in page.url
            SHOTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(SHOTS / "sso-login.png"), full_page=True)
            page.click("#sso-login")
            page.wait_for_selector("h1")

            assert page.url == f"{live_server.url}/alerts/"
            assert page.locator(".who").inner_text() == "oncall.olga"
            browser.close()
    assert errors == []
    assert roles.role_of(django_user_model.objects.get(username="oncall.olga")) == roles.RESPONDER
    assert "/authorize" in provider.hits
