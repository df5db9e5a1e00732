"""Amazon SNS HTTPS deliveries: checking a message's signature, and the certificate source changetrack injects.

SNS signs ``Type``-dependent fields, each as ``<name>\\n<value>\\n`` in a fixed order, with the private key of the
certificate at ``SigningCertURL``: SignatureVersion 1 is SHA1withRSA, 2 SHA256withRSA
(https://docs.aws.amazon.com/sns/latest/dg/sns-verify-signature-of-message.html). The certificate is trusted
because it comes over HTTPS from an SNS host, ``sns.<region>.amazonaws.com``: any other URL is refused before
anything is fetched (a forged message naming an attacker's certificate would otherwise verify).

Fetching is network, which ``verify()`` must not do itself: changetrack installs a ``CertificateSource`` (cached,
HTTPS with certificate verification, the host rule checked again) with ``use_certificates()``, and a
``SubscriptionConfirmer`` that GETs a confirmed ``SubscribeURL`` from a Celery task. Until then a SNS delivery is
refused (401) rather than accepted unverified.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any, Protocol
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from integrations.base import VerificationError

#: the header SNS sets on every HTTP/S delivery: Notification, SubscriptionConfirmation, UnsubscribeConfirmation
TYPE_HEADER = "x-amz-sns-message-type"
NOTIFICATION = "Notification"
SUBSCRIPTION_CONFIRMATION = "SubscriptionConfirmation"
UNSUBSCRIBE_CONFIRMATION = "UnsubscribeConfirmation"

_SIGNED_FIELDS = {
    NOTIFICATION: ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"),
    SUBSCRIPTION_CONFIRMATION: ("Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type"),
    UNSUBSCRIBE_CONFIRMATION: ("Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type"),
}
_OPTIONAL = frozenset({"Subject"})  # a Notification without a subject signs no Subject line
_HASHES: dict[str, type[hashes.HashAlgorithm]] = {"1": hashes.SHA1, "2": hashes.SHA256}
#: the hosts SNS serves certificates and subscription URLs from (the AWS SDKs' message validators use the same)
SNS_HOST = re.compile(r"^sns\.[a-z0-9-]{3,}\.amazonaws\.com(\.cn)?$")


class CertificateSource(Protocol):
    def __call__(self, url: str) -> bytes:
        """The PEM certificate at ``url`` (an SNS URL ``sns_url_allowed`` accepts). Raises ``VerificationError``
        when it cannot be had."""
        ...


class SubscriptionConfirmer(Protocol):
    def __call__(self, subscribe_url: str) -> None:
        """Arrange for ``subscribe_url`` (an SNS URL) to be fetched, which confirms the subscription."""
        ...


def _no_certificates(url: str) -> bytes:
    raise VerificationError("SNS certificates cannot be fetched in this process (no certificate source installed)")


def _no_confirmer(subscribe_url: str) -> None:
    raise VerificationError("SNS subscriptions cannot be confirmed in this process (no confirmer installed)")


_installed: dict[str, Any] = {"certificates": _no_certificates, "confirm": _no_confirmer}


def use_certificates(certificates: CertificateSource, confirm: SubscriptionConfirmer) -> None:
    """Install how certificates are fetched and subscriptions confirmed (changetrack does, at start-up)."""
    _installed["certificates"], _installed["confirm"] = certificates, confirm


def sns_url_allowed(url: str) -> bool:
    """True for ``https://sns.<region>.amazonaws.com/...`` on the default port, with no user info."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return False
    host = parts.hostname or ""
    return parts.scheme == "https" and port in (None, 443) and "@" not in parts.netloc and bool(SNS_HOST.match(host))


def string_to_sign(message: Mapping[str, Any]) -> bytes:
    """The bytes SNS signed for ``message``; ``VerificationError`` for an unknown ``Type`` or a missing field."""
    kind = message.get("Type")
    fields = _SIGNED_FIELDS.get(kind) if isinstance(kind, str) else None
    if fields is None:
        raise VerificationError(f"not an SNS message type: {str(kind)[:40]!r}")
    lines: list[str] = []
    for name in fields:
        value = message.get(name)
        if value is None and name in _OPTIONAL:
            continue
        if not isinstance(value, str):
            raise VerificationError(f"SNS message field {name!r} is missing")
        lines += [name, value]
    return ("\n".join(lines) + "\n").encode("utf-8")


def verify_message(message: Any, headers: Mapping[str, str]) -> str:
    """Check an SNS message's signature; return its ``Type``. Raises ``VerificationError``."""
    if not isinstance(message, Mapping):
        raise VerificationError("an SNS delivery's body is a JSON object")
    kind = str(message.get("Type") or "")
    if headers.get(TYPE_HEADER) and headers.get(TYPE_HEADER) != kind:
        raise VerificationError("the SNS message type header and the body disagree")
    algorithm = _HASHES.get(str(message.get("SignatureVersion")))
    if algorithm is None:
        raise VerificationError(f"unknown SNS SignatureVersion {str(message.get('SignatureVersion'))[:8]!r}")
    url = message.get("SigningCertURL")
    if not isinstance(url, str) or not sns_url_allowed(url):
        raise VerificationError("SigningCertURL is not an https://sns.<region>.amazonaws.com URL")
    try:
        signature = base64.b64decode(str(message.get("Signature") or ""), validate=True)
    except (binascii.Error, ValueError):
        raise VerificationError("the SNS Signature is not base64") from None
    signed = string_to_sign(message)
    check_signature(_installed["certificates"](url), signature, signed, algorithm())
    if kind == SUBSCRIPTION_CONFIRMATION:
        subscribe = message.get("SubscribeURL")
        if not isinstance(subscribe, str) or not sns_url_allowed(subscribe):
            raise VerificationError("SubscribeURL is not an https://sns.<region>.amazonaws.com URL")
    return kind


def check_signature(pem: bytes, signature: bytes, signed: bytes, algorithm: hashes.HashAlgorithm) -> None:
    """RSA PKCS#1 v1.5 check of ``signature`` over ``signed`` with the certificate ``pem``'s key."""
    certificate = _certificate(pem)
    now = datetime.now(UTC)
    if not certificate.not_valid_before_utc <= now <= certificate.not_valid_after_utc:
        raise VerificationError("the SNS signing certificate is expired or not yet valid")
    key = certificate.public_key()
    if not isinstance(key, rsa.RSAPublicKey):
        raise VerificationError("the SNS signing certificate has no RSA key")
    try:
        key.verify(signature, signed, padding.PKCS1v15(), algorithm)
    except InvalidSignature:
        raise VerificationError("the SNS signature does not match the message") from None


@lru_cache(maxsize=16)
def _certificate(pem: bytes) -> x509.Certificate:
    """The parsed certificate (SNS signs with a few long-lived ones: parsed once, not per message)."""
    try:
        return x509.load_pem_x509_certificate(pem)
    except ValueError:
        raise VerificationError("the SNS signing certificate cannot be read") from None


def confirm(subscribe_url: str) -> None:
    """Hand a verified ``SubscribeURL`` to the installed confirmer."""
    _installed["confirm"](subscribe_url)
