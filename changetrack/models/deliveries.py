"""Configured integrations (connections) and the raw webhooks they receive (deliveries)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import uuid
from typing import Any

from cryptography.fernet import Fernet, MultiFernet
from django.conf import settings
from django.contrib.postgres.indexes import BrinIndex
from django.db import models


def _fernet_for(secret_key: str) -> Fernet:
    key = hashlib.sha256(b"changetrack.connection-secrets:" + secret_key.encode()).digest()
    return Fernet(base64.urlsafe_b64encode(key))


def secrets_cipher() -> MultiFernet:
    """Encrypts under ``SECRET_KEY``; decrypts under it or any of ``SECRET_KEY_FALLBACKS`` (key rotation:
    ``manage.py rotate_secrets`` re-encrypts what still needs a fallback)."""
    keys = [settings.SECRET_KEY, *settings.SECRET_KEY_FALLBACKS]
    return MultiFernet([_fernet_for(k) for k in keys])


def hash_secret(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


class Connection(models.Model):
    """One configured integration instance; its UUID is part of its webhook URL.

    Secrets are never shown back. A secret the receiver only compares (a shared-secret header, a bearer token)
    is stored as a SHA-256 hash; a secret needed in clear (an HMAC key, an API token for a poller) is stored
    encrypted with a key derived from ``SECRET_KEY`` (readable under ``SECRET_KEY_FALLBACKS`` during a rotation)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    integration = models.CharField(max_length=50, help_text="integration slug, e.g. github")
    name = models.CharField(max_length=100)
    enabled = models.BooleanField(default=True)
    config = models.JSONField(default=dict, blank=True)
    secrets_encrypted = models.TextField(blank=True, default="", editable=False)
    secret_hashes = models.JSONField(default=dict, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    last_delivery_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["integration", "name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.integration})"

    @property
    def webhook_path(self) -> str:
        return f"/hooks/{self.integration}/{self.id}/"

    def set_secrets(self, clear: dict[str, str], hashed: dict[str, str]) -> None:
        """Store ``clear`` encrypted and ``hashed`` as SHA-256 digests (empty values are dropped)."""
        clear = {k: v for k, v in clear.items() if v}
        self.secrets_encrypted = secrets_cipher().encrypt(json.dumps(clear).encode()).decode() if clear else ""
        self.secret_hashes = {k: hash_secret(v) for k, v in hashed.items() if v}

    def secret_store(self) -> SecretStore:
        clear: dict[str, str] = {}
        if self.secrets_encrypted:
            clear = json.loads(secrets_cipher().decrypt(self.secrets_encrypted.encode()))
        return SecretStore(clear, dict(self.secret_hashes))


class SecretStore:
    """What ``Integration.verify`` sees: clear secrets by name, and constant-time checks against hashes."""

    def __init__(self, clear: dict[str, str], hashes: dict[str, str]):
        self._clear = clear
        self._hashes = hashes

    def __repr__(self) -> str:  # never print a secret, even in a traceback
        return f"SecretStore(names={sorted({*self._clear, *self._hashes})})"

    def get(self, name: str) -> str | None:
        return self._clear.get(name)

    def has(self, name: str) -> bool:
        return name in self._clear or name in self._hashes

    def matches(self, name: str, provided: str | None) -> bool:
        """Constant-time check of ``provided`` against the named secret (hashed or clear)."""
        if provided is None:
            return False
        if name in self._hashes:
            return hmac.compare_digest(hash_secret(provided), self._hashes[name])
        if name in self._clear:
            return hmac.compare_digest(provided.encode(), self._clear[name].encode())
        return False


class Delivery(models.Model):
    """A raw webhook as received, kept so it can be processed later and replayed.

    Partitioned by day on ``received_at``. ``status``: pending → processed | ignored | failed.
    ``headers`` keeps no credential (only the allow-list ``changetrack.ingest.scrubbing.KEPT_HEADERS``)."""

    class Status(models.TextChoices):
        PENDING = "pending"
        PROCESSED = "processed"
        IGNORED = "ignored"
        FAILED = "failed"

    id = models.BigAutoField(primary_key=True)
    connection = models.ForeignKey(
        Connection, on_delete=models.DO_NOTHING, db_constraint=False, db_index=False, related_name="deliveries"
    )
    integration = models.CharField(max_length=50)
    event_type = models.CharField(max_length=100, blank=True, default="")
    delivery_key = models.CharField(max_length=255, blank=True, default="")
    headers = models.JSONField(default=dict)
    body = models.BinaryField()
    received_at = models.DateTimeField()
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PENDING)
    error = models.TextField(blank=True, default="")
    attempts = models.PositiveIntegerField(default=0)
    records = models.PositiveIntegerField(default=0)
    processed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-received_at", "-id"]
        verbose_name_plural = "deliveries"
        indexes = [
            models.Index(fields=["received_at"], condition=models.Q(status="pending"), name="delivery_pending"),
            models.Index(fields=["connection", "-received_at"], name="delivery_connection_time"),
        ]

    def __str__(self) -> str:
        return f"{self.integration} {self.event_type} #{self.pk}"

    def payload(self) -> Any:
        return json.loads(bytes(self.body))


class DeliveryKey(models.Model):
    """The delivery key of every delivery received within the dedupe window, unique per connection.

    The receiver's duplicate check is its INSERT here (``ON CONFLICT``): one unique-index probe, no race between
    two copies of a delivery arriving together, instead of a probe into every daily partition of ``Delivery``
    (which cannot hold a unique index without the partition column). A key older than the window counts as new
    and is refreshed; ``forget_expired`` deletes such keys (an hourly task) only to bound the table."""

    pk = models.CompositePrimaryKey("connection_id", "delivery_key")
    connection_id = models.UUIDField()
    delivery_key = models.CharField(max_length=255)
    received_at = models.DateTimeField()

    class Meta:
        indexes = [BrinIndex(fields=["received_at"], name="delivery_key_received")]  # for the hourly cleanup only

    def __str__(self) -> str:
        return f"{self.connection_id} {self.delivery_key}"
