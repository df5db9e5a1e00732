"""The browser's two steps: ``start`` sends it to the provider, ``callback`` is where the provider sends it back.

Both are mozilla-django-oidc's views (state, nonce and PKCE verifier kept in the session, checked on the way back)
with the endpoints found by discovery, the redirect URI built from ``PUBLIC_URL``, a 404 while SSO is off, and a
refusal shown on the login page with a 4xx (or a 502 when the provider is unreachable) instead of a 500.
"""

from __future__ import annotations

import logging
from typing import Any

import requests
from django.core.exceptions import SuspiciousOperation
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from mozilla_django_oidc.views import OIDCAuthenticationCallbackView, OIDCAuthenticationRequestView

from changetrack.infra.urls import absolute_url
from changetrack.sso import config, discovery

logger = logging.getLogger(__name__)


def refused(request: HttpRequest, reason: str, status: int) -> HttpResponse:
    """The login page (the password form still there) saying why the SSO sign-in did not happen."""
    logger.warning("auth.sso.refused", extra={"reason": reason, "status": status})
    message = (
        "The identity provider could not be reached; try again, or log in with a local account."
        if status == 502
        else "Sign-in with SSO failed. Try again; if it keeps failing, ask an administrator."
    )
    return render(request, "registration/login.html", {"sso_error": message}, status=status)


def _enabled() -> config.SSOConfig:
    sso = config.current()
    if sso is None:
        raise Http404("SSO is not configured")
    return sso


class SSOStartView(OIDCAuthenticationRequestView):
    """``GET /oidc/authenticate/?next=/path``: a redirect to the provider's authorization endpoint."""

    get_settings = staticmethod(config.library_setting)

    def __init__(self, **kwargs: Any) -> None:
        # skip the library's __init__: it reads the authorization endpoint from settings, ours may need discovery
        super(OIDCAuthenticationRequestView, self).__init__(**kwargs)

    def get(self, request: HttpRequest) -> HttpResponse:
        sso = _enabled()
        try:
            self.OIDC_OP_AUTH_ENDPOINT = discovery.provider(sso).authorization_endpoint
        except discovery.ProviderUnavailable as exc:
            return refused(request, str(exc), 502)
        self.OIDC_RP_CLIENT_ID = sso.client_id
        return super().get(request)

    def get_extra_params(self, request: HttpRequest) -> dict[str, str]:
        return {"redirect_uri": absolute_url(reverse("sso:callback"))}


class SSOCallbackView(OIDCAuthenticationCallbackView):
    """``GET /oidc/callback/?code=…&state=…``: logs the user in, or shows the login page with why not."""

    get_settings = staticmethod(config.library_setting)

    def get(self, request: HttpRequest) -> HttpResponse:
        _enabled()
        try:
            return super().get(request)
        except SuspiciousOperation as exc:
            return refused(request, str(exc), 400)
        except (discovery.ProviderUnavailable, requests.RequestException) as exc:
            return refused(request, f"{type(exc).__name__}: {exc}", 502)

    def login_failure(self) -> HttpResponse:
        # the provider said no (?error=access_denied), the session holds no sign-in, the user is inactive or unknown
        # with OIDC_CREATE_USERS off: nothing an attacker could learn from, so one message
        reason = self.request.GET.get("error", "no user")[:100]
        return refused(self.request, f"sign-in not completed: {reason}", 403)
