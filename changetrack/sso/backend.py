"""The authentication backend behind "Sign in with SSO": a verified ID token in, a local user with a role out.

mozilla-django-oidc's backend exchanges the code and calls the hooks below. What we change: endpoints come from
discovery (per sign-in, so a password login never waits for the provider), the ID token's signature, issuer,
audience, expiry and nonce are all checked (the library skips the audience and lets a decoding error escape as a
500), users are matched on ``(iss, sub)`` and never on the email, and the role is set from the groups on every
sign-in, so leaving a group at the provider demotes the user at their next sign-in.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
from typing import Any

import jwt
import requests
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractUser, Group
from django.core.exceptions import SuspiciousOperation
from django.db import IntegrityError, transaction
from django.urls import reverse
from mozilla_django_oidc.auth import OIDCAuthenticationBackend

from changetrack import roles
from changetrack.infra.urls import absolute_url
from changetrack.models import SSOIdentity
from changetrack.sso import config, discovery

logger = logging.getLogger(__name__)

#: clock difference tolerated between us and the provider on ``exp``/``iat``
LEEWAY_SECONDS = 60
_NOT_IN_USERNAMES = re.compile(r"[^\w.@+-]")


class SSOBackend(OIDCAuthenticationBackend):
    """Authenticates the callback of an OpenID Connect sign-in (``changetrack.sso.views``); answers None to
    everything else, the password form included."""

    get_settings = staticmethod(config.library_setting)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # The library's __init__ reads the endpoints from settings; ours are resolved in authenticate().
        self.UserModel = get_user_model()

    def authenticate(self, request: Any, **kwargs: Any) -> AbstractUser | None:  # type: ignore[override]
        """The user for the callback ``request`` (the view passes the ``nonce`` it kept in the session), or None.
        Raises ``SuspiciousOperation`` for a token that fails a check, ``ProviderUnavailable`` or a
        ``requests`` error when the provider cannot be reached."""
        sso = config.current()
        if request is None or "nonce" not in kwargs or sso is None:
            return None
        self.config: config.SSOConfig = sso
        self.provider = discovery.provider(self.config)
        self.OIDC_OP_TOKEN_ENDPOINT = self.provider.token_endpoint
        self.OIDC_OP_USER_ENDPOINT = self.provider.userinfo_endpoint
        self.OIDC_OP_JWKS_ENDPOINT = self.provider.jwks_uri
        self.OIDC_RP_CLIENT_ID = self.config.client_id
        self.OIDC_RP_CLIENT_SECRET = self.config.client_secret
        self.OIDC_RP_SIGN_ALGO = "RS256"
        self.OIDC_RP_IDP_SIGN_KEY = None
        return super().authenticate(request, **kwargs)

    def get_token(self, payload: dict[str, Any]) -> dict[str, Any]:
        # the redirect_uri must be the one the browser was sent with: PUBLIC_URL's, not the Host header's
        payload["redirect_uri"] = absolute_url(reverse("sso:callback"))
        answer = super().get_token(payload)
        if not isinstance(answer, dict) or not isinstance(answer.get("id_token"), str):
            raise SuspiciousOperation("the token endpoint answered no id_token")
        return answer

    def verify_token(self, token: str, **kwargs: Any) -> dict[str, Any]:
        """The claims of the RS256 JWT ``token`` once its signature (a key of the provider's JWKS), ``iss``, ``aud``,
        ``exp``, ``iat`` and, for an ID token, ``nonce`` are checked. Raises ``SuspiciousOperation``."""
        try:
            claims = jwt.decode(
                token,
                self._signing_key(token),
                algorithms=["RS256"],
                audience=self.config.client_id,
                issuer=self.provider.issuer,
                leeway=LEEWAY_SECONDS,
                options={"require": ["iss", "sub", "aud", "exp", "iat"]},
            )
        except jwt.PyJWTError as exc:
            raise SuspiciousOperation(f"the ID token was refused: {type(exc).__name__}: {exc}") from None
        if "nonce" in kwargs:
            nonce = claims.get("nonce")
            if not isinstance(nonce, str) or not hmac.compare_digest(nonce, str(kwargs["nonce"])):
                raise SuspiciousOperation("the ID token's nonce is not the one this sign-in sent")
        if not isinstance(claims["sub"], str) or not claims["sub"]:
            raise SuspiciousOperation("the ID token has no sub")
        return claims

    def _signing_key(self, token: str) -> jwt.PyJWK:
        """The provider's RSA key named by the token's ``kid`` (or its only RSA signing key when the token names
        none), fetched from the JWKS at every sign-in so a rotated key is picked up at once."""
        try:
            header = jwt.get_unverified_header(token)
            response = requests.get(self.provider.jwks_uri, timeout=config.PROVIDER_TIMEOUT)
            response.raise_for_status()
            document = response.json()
            if not isinstance(document, dict):
                raise jwt.PyJWKSetError("the JWKS is not a JSON object")
            keys = jwt.PyJWKSet.from_dict(document).keys
        except jwt.PyJWTError as exc:
            raise SuspiciousOperation(f"the ID token or the provider's JWKS is unreadable: {exc}") from None
        candidates = [k for k in keys if k.key_type == "RSA" and getattr(k, "public_key_use", None) in (None, "sig")]
        if header.get("kid") is not None:
            candidates = [k for k in candidates if k.key_id == header["kid"]]
        if len(candidates) != 1:
            raise SuspiciousOperation(f"no single key of the provider's JWKS matches kid {header.get('kid')!r}")
        return candidates[0]

    def get_userinfo(self, access_token: str, id_token: str, payload: dict[str, Any]) -> dict[str, Any]:
        """The ID token's claims, completed by the userinfo endpoint's when the provider has one (some put the
        groups only there). The ID token wins a disagreement; a userinfo answer about another ``sub`` is refused."""
        if not self.provider.userinfo_endpoint:
            return payload
        info = super().get_userinfo(access_token, id_token, payload)
        if not isinstance(info, dict) or info.get("sub") != payload["sub"]:
            raise SuspiciousOperation("the userinfo endpoint answered for another subject")
        return {**info, **payload}

    def verify_claims(self, claims: dict[str, Any]) -> bool:
        # OpenID Connect Core §2: a sub is at most 255 ASCII characters (and PostgreSQL stores no NUL)
        sub = claims.get("sub")
        return isinstance(sub, str) and 0 < len(sub) <= 255 and sub.isascii() and "\x00" not in sub

    def filter_users_by_claims(self, claims: dict[str, Any]) -> Any:
        return self.UserModel.objects.filter(
            sso_identity__issuer=self.provider.issuer, sso_identity__subject=claims["sub"]
        )

    def create_user(self, claims: dict[str, Any]) -> AbstractUser:
        """A new user for a subject seen for the first time, with a username no other user has."""
        try:
            with transaction.atomic():
                user = self.UserModel.objects.create_user(self._free_username(claims))
                SSOIdentity.objects.create(user=user, issuer=self.provider.issuer, subject=claims["sub"])
        except IntegrityError:
            # the same person's first sign-in in two tabs at once: the other one created the user
            user = self.filter_users_by_claims(claims).get()
        logger.info("auth.sso.user.created", extra={"user": user.get_username(), "subject": claims["sub"]})
        return self.update_user(user, claims)

    def update_user(self, user: AbstractUser, claims: dict[str, Any]) -> AbstractUser:
        """Refresh the name and email from the claims and set the role from the groups, at every sign-in."""
        user.email = _text(claims.get("email"), 254)
        user.first_name = _text(claims.get("given_name"), 150)
        user.last_name = _text(claims.get("family_name"), 150)
        user.save(update_fields=["email", "first_name", "last_name"])
        groups = groups_of(claims, self.config.groups_claim)
        role = self.config.role_for(groups)
        if role is None:
            user.groups.remove(*Group.objects.filter(name__in=roles.ROLES))
        else:
            roles.set_role(user, role)
        logger.info("auth.sso.login", extra={"user": user.get_username(), "role": role, "groups": sorted(groups)})
        return user

    def _free_username(self, claims: dict[str, Any]) -> str:
        """``preferred_username``, else the email, else the subject; with a suffix derived from the subject when
        another user (a local account, another subject) already has that name, so nobody signs in as them."""
        wanted = next(
            (v for v in (claims.get("preferred_username"), claims.get("email"), claims["sub"]) if isinstance(v, str)),
            claims["sub"],
        )
        base = _NOT_IN_USERNAMES.sub("_", wanted)[:150] or "sso"
        digest = hashlib.sha256(f"{self.provider.issuer} {claims['sub']}".encode()).hexdigest()
        for name in (base, *(f"{base[: 149 - n]}-{digest[:n]}" for n in (8, 16, 64))):
            if not self.UserModel.objects.filter(username=name).exists():
                return name
        raise SuspiciousOperation("no free username for this subject")


def groups_of(claims: dict[str, Any], claim: str) -> set[str]:
    """The group names in ``claim``: a list of strings, or one string (Google's ``hd`` domain claim). A name with
    dots that is not a claim is followed as a path (Keycloak's ``realm_access.roles``)."""
    value: Any = claims.get(claim)
    if value is None and "." in claim:
        value = claims
        for part in claim.split("."):
            value = value.get(part) if isinstance(value, dict) else None
    if isinstance(value, str):
        return {value}
    if isinstance(value, list):
        return {g for g in value if isinstance(g, str)}
    return set()


def _text(value: Any, limit: int) -> str:
    """A claim as a column value: a string without NUL (PostgreSQL refuses it), cut to the column's length."""
    return value.replace("\x00", "")[:limit] if isinstance(value, str) else ""
