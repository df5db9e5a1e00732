"""The network side of SNS deliveries to the AWS integration: signing certificates and subscription confirmations.

``integrations.aws.sns`` checks signatures but must not fetch (integrations touch no network in ``verify``); this
module is what changetrack installs for it at start-up (``install``, from ``ChangetrackConfig.ready``):

- ``certificate(url)``: the PEM at an SNS ``SigningCertURL``, fetched over HTTPS (certificates verified against
  ``AWS_SNS_CA_BUNDLE`` or the default CAs, redirects not followed), only from ``sns.<region>.amazonaws.com``
  (checked again here, before any connection), and cached per process: SNS signs with a few long-lived
  certificates, so after the first delivery verification costs no request. The fetch happens in the receiver,
  synchronously and bounded by ``FETCH_TIMEOUT``, because an unverified message must not be stored.
- ``confirm_later(url)``: a verified ``SubscriptionConfirmation`` from an allowed topic enqueues
  ``confirm_sns_subscription``, which GETs its ``SubscribeURL`` (the same host rule) from a worker, with retries.
"""

from __future__ import annotations

import logging
import threading
import time

import requests
from django.conf import settings
from kombu.exceptions import OperationalError

from changetrack.celery import app
from integrations.aws import sns
from integrations.base import VerificationError

logger = logging.getLogger(__name__)

FETCH_TIMEOUT = 5.0
CACHE_SECONDS = 24 * 3600
CACHE_SIZE = 64
MAX_CERTIFICATE_BYTES = 16 * 1024

CONFIRM_TASK = "changetrack.ingest.tasks.confirm_sns_subscription"

_cache: dict[str, tuple[float, bytes]] = {}
_lock = threading.Lock()


def _trust() -> str | bool:
    """What ``requests`` verifies server certificates with: the configured bundle, else its default CAs."""
    return settings.AWS_SNS_CA_BUNDLE or True


def certificate(url: str) -> bytes:
    """The signing certificate at ``url``, from the cache or fetched. Raises ``VerificationError``."""
    if not sns.sns_url_allowed(url):
        raise VerificationError("SigningCertURL is not an https://sns.<region>.amazonaws.com URL")
    now = time.monotonic()
    with _lock:
        hit = _cache.get(url)
    if hit and hit[0] > now:
        return hit[1]
    try:
        response = requests.get(url, timeout=FETCH_TIMEOUT, verify=_trust(), allow_redirects=False)
    except requests.RequestException as exc:
        logger.warning("ingest.sns.certificate_unavailable", extra={"url": url, "error": type(exc).__name__})
        raise VerificationError("the SNS signing certificate could not be fetched") from None
    if response.status_code != 200 or len(response.content) > MAX_CERTIFICATE_BYTES:
        raise VerificationError(f"the SNS signing certificate URL answered {response.status_code}")
    with _lock:
        if len(_cache) >= CACHE_SIZE:
            _cache.clear()
        _cache[url] = (now + CACHE_SECONDS, response.content)
    return response.content


def forget_certificates() -> None:
    with _lock:
        _cache.clear()


def confirm_later(subscribe_url: str) -> None:
    """Enqueue the confirmation of a verified subscription (``CONFIRM_TASK``)."""
    try:  # sent by name: the task module imports this one
        app.send_task(CONFIRM_TASK, args=[subscribe_url], retry=False)
    except OperationalError as exc:  # the broker is down: the delivery is still stored; confirm it from SNS
        logger.warning("ingest.sns.confirmation_not_queued", extra={"error": repr(exc)})


def confirm(subscribe_url: str) -> int:
    """GET ``subscribe_url`` (an SNS URL), which confirms the subscription; returns the status code.
    Raises ``ValueError`` for another host and ``requests.RequestException`` when it cannot be reached."""
    if not sns.sns_url_allowed(subscribe_url):
        raise ValueError("SubscribeURL is not an https://sns.<region>.amazonaws.com URL")
    response = requests.get(subscribe_url, timeout=FETCH_TIMEOUT, verify=_trust(), allow_redirects=False)
    response.raise_for_status()
    logger.info("ingest.sns.subscription_confirmed", extra={"status": response.status_code})
    return response.status_code


def install() -> None:
    sns.use_certificates(certificate, confirm_later)
