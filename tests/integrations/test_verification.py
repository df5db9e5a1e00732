"""Every integration's ``verify()`` by behaviour: the right signature or secret is accepted, one that differs only
in its last character is refused. A comparison that stopped early or compared a prefix would let the near miss
through; these tests need no database (``verify`` is pure, the secrets come in a real ``SecretStore``)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from changetrack.models.deliveries import SecretStore, hash_secret
from integrations import registry
from integrations.base import VerificationError, verify_hmac_sha256
from tests.integrations.helpers import hmac_hex

BODY = b'{"event":{"id":"evt-1"}}'
SECRET = "s3cret-0123456789abcdef"


def last_character_changed(value: str) -> str:
    return value[:-1] + ("0" if value[-1] != "0" else "1")


#: slug → (the secrets the connection holds, the headers a vendor sends for ``BODY`` given a signature or secret)
HMAC_SIGNED: dict[str, tuple[SecretStore, Callable[[str], dict[str, str]]]] = {
    "github": (SecretStore({"webhook_secret": SECRET}, {}), lambda sig: {"X-Hub-Signature-256": f"sha256={sig}"}),
    "launchdarkly": (SecretStore({"signing_secret": SECRET}, {}), lambda sig: {"X-LD-Signature": sig}),
    "pagerduty": (SecretStore({"signing_secret": SECRET}, {}), lambda sig: {"X-PagerDuty-Signature": f"v1={sig}"}),
}
SHARED_SECRET: dict[str, Callable[[str], dict[str, str]]] = {
    "generic": lambda token: {"X-Changetrack-Token": token},
    "argocd": lambda token: {"X-Changetrack-Token": token},
    "jenkins": lambda token: {"X-Changetrack-Token": token},
    "datadog": lambda token: {"Authorization": f"Bearer {token}"},
    "alertmanager": lambda token: {"X-Changetrack-Token": token},
    "grafana": lambda token: {"Authorization": f"Bearer {token}"},
    "opsgenie": lambda token: {"X-Changetrack-Token": token},
}


#: an API key in the header the connection names (AWS EventBridge API destinations); SNS signatures:
#: tests/integrations/aws/test_sns.py
API_KEY_HEADER = {"aws": ("x-api-key", "api_key")}

#: push destinations: Slack's clicks carry a timestamped signature (tests/integrations/slack/test_signature.py);
#: an outgoing webhook receives nothing
PUSH_DESTINATIONS = {"slack", "webhook", "grafana-annotations"}
#: polled only (tracing backends): they receive nothing
POLLED_ONLY = {"prometheus-servicegraph", "jaeger"}


def test_every_registered_integration_has_a_verification_case_here():
    assert set(HMAC_SIGNED) | set(SHARED_SECRET) | set(API_KEY_HEADER) | PUSH_DESTINATIONS | POLLED_ONLY == set(
        registry.INTEGRATIONS
    )


@pytest.mark.parametrize("slug", sorted(POLLED_ONLY | {"grafana-annotations"}))
def test_a_polled_source_or_an_annotation_destination_refuses_every_incoming_request(slug: str):
    with pytest.raises(VerificationError, match="receive no webhooks"):
        registry.get(slug).verify({"Authorization": f"Bearer {SECRET}"}, BODY, SecretStore({"token": SECRET}, {}))


def test_an_outgoing_webhook_connection_refuses_every_incoming_request():
    with pytest.raises(VerificationError, match="receive no webhooks"):
        registry.get("webhook").verify(
            {"X-Changetrack-Token": SECRET}, BODY, SecretStore({"signing_secret": SECRET}, {})
        )


@pytest.mark.parametrize("slug", sorted(HMAC_SIGNED))
def test_a_correct_hmac_signature_is_accepted(slug: str):
    secrets, headers = HMAC_SIGNED[slug]
    registry.get(slug).verify(headers(hmac_hex(SECRET, BODY)), BODY, secrets)


@pytest.mark.parametrize("slug", sorted(HMAC_SIGNED))
def test_an_hmac_signature_that_differs_only_in_its_last_character_is_refused(slug: str):
    secrets, headers = HMAC_SIGNED[slug]
    with pytest.raises(VerificationError):
        registry.get(slug).verify(headers(last_character_changed(hmac_hex(SECRET, BODY))), BODY, secrets)


@pytest.mark.parametrize("slug", sorted(SHARED_SECRET))
def test_the_right_shared_secret_is_accepted(slug: str):
    secrets = SecretStore({}, {"token": hash_secret(SECRET)})
    registry.get(slug).verify(SHARED_SECRET[slug](SECRET), BODY, secrets)


@pytest.mark.parametrize("slug", sorted(SHARED_SECRET))
def test_a_shared_secret_that_differs_only_in_its_last_character_is_refused(slug: str):
    secrets = SecretStore({}, {"token": hash_secret(SECRET)})
    with pytest.raises(VerificationError):
        registry.get(slug).verify(SHARED_SECRET[slug](last_character_changed(SECRET)), BODY, secrets)


@pytest.mark.parametrize("slug", sorted(API_KEY_HEADER))
def test_the_right_api_key_is_accepted_and_one_off_by_its_last_character_refused(slug: str):
    header, name = API_KEY_HEADER[slug]
    secrets = SecretStore({}, {name: hash_secret(SECRET)})
    registry.get(slug).verify({header: SECRET}, BODY, secrets)
    with pytest.raises(VerificationError):
        registry.get(slug).verify({header: last_character_changed(SECRET)}, BODY, secrets)


@pytest.mark.parametrize("stored", ["hashed", "clear"])
def test_the_secret_store_refuses_a_secret_off_by_its_last_character(stored: str):
    secrets = (
        SecretStore({}, {"token": hash_secret(SECRET)}) if stored == "hashed" else SecretStore({"token": SECRET}, {})
    )
    assert secrets.matches("token", SECRET)
    assert not secrets.matches("token", last_character_changed(SECRET))
    assert not secrets.matches("token", SECRET[:-1])


def test_the_shared_hmac_helper_refuses_a_signature_off_by_its_last_character():
    good = hmac_hex(SECRET, BODY)
    verify_hmac_sha256(SECRET, BODY, good)
    verify_hmac_sha256(SECRET, BODY, good.upper())  # vendors differ in hex case
    with pytest.raises(VerificationError):
        verify_hmac_sha256(SECRET, BODY, last_character_changed(good))
