"""``manage.py rotate_secrets``: after a ``SECRET_KEY`` change, re-encrypt every connection's secrets under it."""

from __future__ import annotations

from typing import Any

from cryptography.fernet import InvalidToken
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from changetrack.models import Connection
from changetrack.models.deliveries import secrets_cipher

AFTERWARDS = """\
Not affected by the key: webhook secrets that are only compared (stored as SHA-256 hashes) and API tokens.
Kubernetes Secret value hashes are keyed by SECRET_KEY: while the old key is in SECRET_KEY_FALLBACKS, the
collector's next periodic relist (every 15 minutes) re-keys the stored hashes without recording changes;
remove the old key after that, or each hashed Secret is recorded once as changed.
Keep the old key in SECRET_KEY_FALLBACKS until every process runs with the new key and the collector has
relisted, then remove it (everyone still logged in under it logs in again)."""


class Command(BaseCommand):
    help = "Re-encrypt every connection's secrets under SECRET_KEY (readable under SECRET_KEY or SECRET_KEY_FALLBACKS)."

    def handle(self, *args: Any, **opts: Any) -> None:
        cipher = secrets_cipher()
        rotated, unreadable = 0, []
        with transaction.atomic():
            for conn in Connection.objects.select_for_update().exclude(secrets_encrypted="").order_by("pk"):
                try:
                    conn.secrets_encrypted = cipher.rotate(conn.secrets_encrypted.encode()).decode()
                except InvalidToken:
                    unreadable.append(f"{conn.name} ({conn.integration}, {conn.pk})")
                    continue
                conn.save(update_fields=["secrets_encrypted"])
                rotated += 1
        self.stdout.write(f"Re-encrypted the secrets of {rotated} connection(s) under SECRET_KEY.")
        self.stdout.write(AFTERWARDS)
        if unreadable:
            raise CommandError(
                f"{len(unreadable)} connection(s) could not be decrypted under SECRET_KEY or SECRET_KEY_FALLBACKS "
                f"(add the key they were written with to SECRET_KEY_FALLBACKS, or re-enter their secrets): "
                + "; ".join(unreadable)
            )
