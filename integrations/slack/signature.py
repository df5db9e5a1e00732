"""Verifying Slack's request signature (https://api.slack.com/authentication/verifying-requests-from-slack).

``X-Slack-Signature`` is ``v0=`` + hex HMAC-SHA256 of ``v0:{X-Slack-Request-Timestamp}:{raw body}`` keyed by the
app's signing secret; a timestamp more than five minutes from now is refused so a captured request cannot be
replayed later.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping

from integrations.base import VerificationError

TOLERANCE_SECONDS = 300
VERSION = "v0"


def sign(signing_secret: str, timestamp: str, raw_body: bytes) -> str:
    """The ``X-Slack-Signature`` value Slack sends for ``raw_body`` at ``timestamp``."""
    base = f"{VERSION}:{timestamp}:".encode() + raw_body
    return f"{VERSION}=" + hmac.new(signing_secret.encode(), base, hashlib.sha256).hexdigest()


def verify(headers: Mapping[str, str], raw_body: bytes, signing_secret: str | None, now: float) -> None:
    """Raise ``VerificationError`` unless ``headers`` carry a fresh, valid Slack signature of ``raw_body``.
    ``headers`` is case-insensitive; ``now`` is epoch seconds."""
    if not signing_secret:
        raise VerificationError("this connection has no signing secret configured")
    timestamp = (headers.get("X-Slack-Request-Timestamp") or "").strip()
    provided = (headers.get("X-Slack-Signature") or "").strip()
    if not timestamp or not provided:
        raise VerificationError("X-Slack-Request-Timestamp or X-Slack-Signature missing")
    if not timestamp.isascii() or not timestamp.isdigit():
        raise VerificationError("X-Slack-Request-Timestamp is not a number")
    if abs(now - int(timestamp)) > TOLERANCE_SECONDS:
        raise VerificationError("X-Slack-Request-Timestamp is more than five minutes away from now")
    if not hmac.compare_digest(sign(signing_secret, timestamp, raw_body).encode(), provided.encode()):
        raise VerificationError("signature does not match the body")
