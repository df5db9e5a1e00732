"""The SSO settings, read from the environment once at start-up into one ``settings.SSO`` object (None when off).

Django settings import this module, so it imports no models. A bad value fails start-up with a message naming the
variable, as the rest of ``changetrack.settings`` does.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from changetrack import roles

BACKEND = "changetrack.sso.backend.SSOBackend"
DEFAULT_SCOPES = "openid email profile groups"
#: a group name that matches every SSO user (the role of someone in none of the mapped groups)
ANY_GROUP = "*"
#: seconds for each call to the provider (discovery, token, userinfo, JWKS); a login waits for them
PROVIDER_TIMEOUT = 10
_ENDPOINTS = {
    "authorization_endpoint": "OIDC_AUTHORIZATION_ENDPOINT",
    "token_endpoint": "OIDC_TOKEN_ENDPOINT",
    "userinfo_endpoint": "OIDC_USERINFO_ENDPOINT",
    "jwks_uri": "OIDC_JWKS_ENDPOINT",
}


@dataclass(frozen=True)
class SSOConfig:
    """What the ``OIDC_*`` variables said. ``endpoints`` holds the ones given explicitly (the rest are discovered
    from ``issuer``); ``role_map`` is ``(group, role)`` pairs in the order given."""

    issuer: str
    client_id: str
    client_secret: str = field(repr=False)  # never in a debug page or a log line
    scopes: str = DEFAULT_SCOPES
    groups_claim: str = "groups"
    role_map: tuple[tuple[str, str], ...] = ()
    create_users: bool = True
    endpoints: Mapping[str, str] = field(default_factory=dict)

    def role_for(self, groups: Iterable[str]) -> str | None:
        """The highest role any of ``groups`` maps to (``*`` maps every user), or None when none is mapped."""
        names = set(groups) | {ANY_GROUP}
        mapped = {role for group, role in self.role_map if group in names}
        return next((role for role in reversed(roles.ROLES) if role in mapped), None)


def from_env(environ: Mapping[str, str]) -> SSOConfig | None:
    """Read the ``OIDC_*`` variables: None when SSO is not configured (neither ``OIDC_ISSUER`` nor
    ``OIDC_CLIENT_ID`` set). Raises ``ImproperlyConfigured`` naming the variable that is missing or wrong."""
    env = {k: v.strip() for k, v in environ.items() if k.startswith("OIDC_") and v.strip()}
    if "OIDC_ISSUER" not in env and "OIDC_CLIENT_ID" not in env:
        return None
    for name in ("OIDC_ISSUER", "OIDC_CLIENT_ID", "OIDC_CLIENT_SECRET"):
        if name not in env:
            raise ImproperlyConfigured(f"{name} must be set for SSO (it is on because an OIDC_* variable is set)")
    issuer = env["OIDC_ISSUER"]
    check_url("OIDC_ISSUER", issuer)
    endpoints = {key: env[name] for key, name in _ENDPOINTS.items() if name in env}
    for key, url in endpoints.items():
        check_url(_ENDPOINTS[key], url)
    scopes = " ".join(env.get("OIDC_SCOPES", DEFAULT_SCOPES).replace(",", " ").split())
    if "openid" not in scopes.split():
        raise ImproperlyConfigured(f"OIDC_SCOPES must include openid, not {scopes!r}")
    return SSOConfig(
        issuer=issuer,
        client_id=env["OIDC_CLIENT_ID"],
        client_secret=env["OIDC_CLIENT_SECRET"],
        scopes=scopes,
        groups_claim=env.get("OIDC_GROUPS_CLAIM", "groups"),
        role_map=parse_role_map(env.get("OIDC_ROLE_MAP", "")),
        create_users=_bool("OIDC_CREATE_USERS", env.get("OIDC_CREATE_USERS", "true")),
        endpoints=endpoints,
    )


def parse_role_map(raw: str) -> tuple[tuple[str, str], ...]:
    """``sre-admins=admin,oncall=responder,*=viewer`` as pairs. A group name may hold ``=`` (the last one splits)
    but not ``,``. Raises ``ImproperlyConfigured`` for an entry without ``=`` or an unknown role."""
    pairs = []
    for entry in (e.strip() for e in raw.split(",")):
        if not entry:
            continue
        group, sep, role = entry.rpartition("=")
        if not sep or not group.strip():
            raise ImproperlyConfigured(f"OIDC_ROLE_MAP entries are group=role, not {entry!r}")
        if role.strip() not in roles.ROLES:
            raise ImproperlyConfigured(
                f"OIDC_ROLE_MAP: unknown role {role.strip()!r} for {group.strip()!r}; choose one of {', '.join(roles.ROLES)}"
            )
        pairs.append((group.strip(), role.strip()))
    return tuple(pairs)


def check_url(name: str, url: str) -> None:
    """Tokens and client secrets travel to these URLs: HTTPS, except to this machine (a provider run by the tests
    or a local development IdP). Raises ``ImproperlyConfigured`` naming ``name``."""
    parts = urlsplit(url)
    if parts.scheme == "https" and parts.hostname:
        return
    if parts.scheme == "http" and parts.hostname and _is_loopback(parts.hostname):
        return
    raise ImproperlyConfigured(f"{name} must be an https:// URL (http only for localhost), not {url!r}")


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _bool(name: str, raw: str) -> bool:
    value = raw.lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off"}:
        return False
    raise ImproperlyConfigured(f"{name} must be true or false, not {raw!r}")


def current() -> SSOConfig | None:
    """The running configuration (``settings.SSO``), None when SSO is off."""
    return getattr(settings, "SSO", None)


def library_setting(name: str, *default: Any) -> Any:
    """mozilla-django-oidc's settings, answered from ``settings.SSO`` instead of a dozen ``OIDC_*`` Django settings
    (our views and backend install this as their ``get_settings``). Endpoints are not here: they may need discovery,
    which happens per login (``discovery.provider``). Raises ``ImproperlyConfigured`` for a setting with no answer."""
    config = current()
    values: dict[str, Any] = {
        "OIDC_AUTHENTICATION_CALLBACK_URL": "sso:callback",
        "OIDC_RP_SIGN_ALGO": "RS256",
        "OIDC_USE_NONCE": True,
        # PKCE on top of the client secret: a stolen code is useless without the verifier kept in our session
        "OIDC_USE_PKCE": True,
        "OIDC_TIMEOUT": PROVIDER_TIMEOUT,
        "OIDC_VERIFY_SSL": True,
        "OIDC_STORE_ACCESS_TOKEN": False,
        "OIDC_STORE_ID_TOKEN": False,
        "OIDC_TOKEN_USE_BASIC_AUTH": False,
    }
    if config is not None:
        values |= {
            "OIDC_RP_CLIENT_ID": config.client_id,
            "OIDC_RP_CLIENT_SECRET": config.client_secret,
            "OIDC_RP_SCOPES": config.scopes,
            "OIDC_CREATE_USER": config.create_users,
        }
    if name in values:
        return values[name]
    if default:
        return default[0]
    raise ImproperlyConfigured(f"SSO setting {name} has no value")
