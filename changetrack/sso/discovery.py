"""The provider's endpoints: the ones ``OIDC_*_ENDPOINT`` gives, the rest from its discovery document
(``{issuer}/.well-known/openid-configuration``, OpenID Connect Discovery 1.0 §4).

Fetched at the first sign-in, not at start-up (a migration or a password login must not need the provider), and
kept for the life of the process; a failed fetch is not kept, so the next sign-in tries again.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import requests
from django.core.exceptions import ImproperlyConfigured

from changetrack.sso.config import PROVIDER_TIMEOUT, SSOConfig, check_url

_REQUIRED = ("authorization_endpoint", "token_endpoint", "jwks_uri")


class ProviderUnavailable(Exception):
    """The provider could not be reached, or its discovery document is unusable (the message says which)."""


@dataclass(frozen=True)
class Provider:
    """Where a sign-in goes: the browser to ``authorization_endpoint``, we to the other three."""

    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    userinfo_endpoint: str | None


_found: dict[tuple[str, tuple[tuple[str, str], ...]], Provider] = {}
_lock = threading.Lock()


def provider(config: SSOConfig) -> Provider:
    """The endpoints for ``config``, fetching the discovery document once per process when ``config`` does not name
    them all. Raises ``ProviderUnavailable``."""
    key = (config.issuer, tuple(sorted(config.endpoints.items())))
    with _lock:
        if key not in _found:
            found = {"issuer": config.issuer}
            if any(name not in config.endpoints for name in (*_REQUIRED, "userinfo_endpoint")):
                found |= _discover(config.issuer)
            found |= config.endpoints
            missing = [name for name in _REQUIRED if not found.get(name)]
            if missing:
                raise ProviderUnavailable(f"the provider names no {', '.join(missing)}")
            _found[key] = Provider(
                issuer=found["issuer"],
                authorization_endpoint=found["authorization_endpoint"],
                token_endpoint=found["token_endpoint"],
                jwks_uri=found["jwks_uri"],
                userinfo_endpoint=found.get("userinfo_endpoint") or None,
            )
        return _found[key]


def _discover(issuer: str) -> dict[str, str]:
    url = f"{issuer.rstrip('/')}/.well-known/openid-configuration"
    try:
        response = requests.get(url, timeout=PROVIDER_TIMEOUT, allow_redirects=False)
        response.raise_for_status()
        document = response.json()
    except (requests.RequestException, ValueError) as exc:
        raise ProviderUnavailable(f"discovery at {url} failed: {type(exc).__name__}") from None
    if not isinstance(document, dict):
        raise ProviderUnavailable(f"discovery at {url} answered no JSON object")
    # §4.3: the document must name the issuer it was fetched for (a trailing slash aside: people type it either way);
    # the ID tokens' ``iss`` is then checked against the document's exact spelling
    named = document.get("issuer")
    if not isinstance(named, str) or named.rstrip("/") != issuer.rstrip("/"):
        raise ProviderUnavailable(f"discovery at {url} names issuer {named!r}, not {issuer!r}")
    endpoints = {"issuer": named}
    for name in (*_REQUIRED, "userinfo_endpoint"):
        value = document.get(name)
        if not isinstance(value, str) or not value:
            continue
        try:
            check_url(name, value)
        except ImproperlyConfigured as exc:
            raise ProviderUnavailable(str(exc)) from None
        endpoints[name] = value
    return endpoints
