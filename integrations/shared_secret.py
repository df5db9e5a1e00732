"""Checking a shared secret sent by vendors that do not sign their webhooks (Datadog, Alertmanager, Opsgenie).

The secret may arrive in our header ``X-Changetrack-Token``, as ``Authorization: Bearer <secret>`` or as the
password of HTTP Basic auth: each vendor can send at least one of these. The connection stores only a SHA-256
hash of the secret (``ConfigField(hashed=True)``); ``SecretStore.matches`` compares in constant time. These
headers are never stored with the delivery (they are not in the allow-list ``changetrack.ingest.scrubbing.KEPT_HEADERS``).
"""

from __future__ import annotations

import base64
import binascii
import hmac
from collections.abc import Mapping
from typing import Any

from integrations.base import Integration, VerificationError

TOKEN_HEADER = "X-Changetrack-Token"  # noqa: S105 - a header name, not a secret


def presented_secret(headers: Mapping[str, str]) -> tuple[str | None, str | None]:
    """(secret, basic-auth username) presented by the request, or (None, None)."""
    token = headers.get(TOKEN_HEADER)
    if token:
        return token.strip(), None
    scheme, _, credentials = (headers.get("Authorization") or "").strip().partition(" ")
    credentials = credentials.strip()
    if scheme.lower() == "bearer" and credentials:
        return credentials, None
    if scheme.lower() == "basic" and credentials:
        try:
            decoded = base64.b64decode(credentials, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return None, None
        user, sep, password = decoded.partition(":")
        return (password, user) if sep else (None, None)
    return None, None


def check_shared_secret(headers: Mapping[str, str], secrets: Any, name: str = "token", username: str = "") -> None:
    """Raise ``VerificationError`` unless the request presents the connection's secret ``name``.

    ``username``: when set, HTTP Basic auth must also use this user name (compared in constant time)."""
    if not secrets.has(name):
        raise VerificationError("this connection has no shared secret configured")
    secret, user = presented_secret(headers)
    if secret is None:
        raise VerificationError(f"no secret presented: send {TOKEN_HEADER}, Authorization: Bearer or Basic auth")
    user_ok = user is None or not username or hmac.compare_digest(user.encode(), username.encode())
    secret_ok = secrets.matches(name, secret)
    if not (user_ok and secret_ok):
        raise VerificationError("wrong shared secret")


class SharedSecretIntegration(Integration):
    """An integration whose vendor signs nothing and presents the connection's shared secret ``token``."""

    def verify(self, headers: Mapping[str, str], raw_body: bytes, secrets: Any) -> None:
        check_shared_secret(headers, secrets)
