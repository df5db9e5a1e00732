from __future__ import annotations

import importlib
from urllib.parse import urlsplit

import pytest
import requests
from django.urls import clear_url_caches

from tests.auth.oidc_provider import LocalOIDCProvider

CLIENT_ID, CLIENT_SECRET = "changetrack", "provider-issued-client-secret"
ROLE_MAP = "sre-admins=admin,oncall=responder,engineering=viewer"


def sso_env(provider: LocalOIDCProvider, **extra: str) -> dict[str, str]:
    return {
        "OIDC_ISSUER": provider.url,
        "OIDC_CLIENT_ID": CLIENT_ID,
        "OIDC_CLIENT_SECRET": CLIENT_SECRET,
        "OIDC_ROLE_MAP": ROLE_MAP,
        **extra,
    }


def turn_sso_on(settings, env: dict[str, str]) -> None:
    """What ``changetrack.settings`` and ``changetrack.urls`` do with these variables in the environment."""
    from changetrack.sso import config

    settings.SSO = config.from_env(env)
    settings.AUTHENTICATION_BACKENDS = ["django.contrib.auth.backends.ModelBackend", config.BACKEND]
    reload_urls()


def reload_urls() -> None:
    """``changetrack.urls`` includes the SSO URLs only when SSO is configured: read it again."""
    import changetrack.urls

    importlib.reload(changetrack.urls)
    clear_url_caches()


@pytest.fixture(autouse=True)
def _urls_as_configured_again(settings):
    """After a test that turned SSO on, the URLs of the suite's configuration (SSO off unless OIDC_* are set)."""
    before = settings.SSO
    yield
    if settings.SSO is not before:
        settings.SSO = before
        reload_urls()


@pytest.fixture
def provider(settings):
    with LocalOIDCProvider(CLIENT_ID, CLIENT_SECRET, redirect_uri=f"{settings.PUBLIC_URL}/oidc/callback/") as p:
        yield p


@pytest.fixture
def sso(provider, settings, db):
    turn_sso_on(settings, sso_env(provider))
    return provider


def follow(client, response, provider: LocalOIDCProvider, *, stop_at_callback: bool = False):
    """Follow redirects the way a browser does: to the provider over HTTP, back into Django through the test client.
    With ``stop_at_callback``, return the provider's redirect to the callback instead of following it."""
    for _ in range(10):
        if response.status_code not in (301, 302, 303):
            return response
        location = response.headers["Location"]
        parts = urlsplit(location)
        if location.startswith(provider.url):
            response = requests.get(location, allow_redirects=False, timeout=10)
            if stop_at_callback:
                return response
        else:
            response = client.get(f"{parts.path}?{parts.query}" if parts.query else parts.path)
    raise AssertionError("redirect loop")


def sign_in(client, provider: LocalOIDCProvider, next_url: str = "/"):
    """Click "Sign in with SSO" on the login page and follow every redirect; the last page reached."""
    return follow(client, client.get("/oidc/authenticate/", {"next": next_url}), provider)
