"""Creating connections from an integration's declared config fields (used by the CLI and the web form)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from changetrack.models import Connection
from integrations import registry


class ConnectionError_(ValueError):
    """Bad integration slug or fields; the message says which."""


@dataclass
class NewConnection:
    connection: Connection
    #: secrets generated for the user: shown once, never stored in clear (or only encrypted when needed)
    generated: dict[str, str]


def create_connection(slug: str, name: str, values: dict[str, str]) -> NewConnection:
    """Create a connection for ``slug``. Secret fields left empty are generated when required or hashed (a
    shared secret the sender must present).

    Raises ``ConnectionError_`` for an unknown integration or unknown/missing fields."""
    integration = registry.get(slug)
    if integration is None:
        known = ", ".join(sorted(registry.INTEGRATIONS))
        raise ConnectionError_(f"unknown integration {slug!r}; installed: {known}")
    fields = {f.name: f for f in integration.config_fields}
    unknown = sorted(set(values) - set(fields))
    if unknown:
        raise ConnectionError_(
            f"unknown field(s) for {slug}: {', '.join(unknown)}; valid: {', '.join(fields) or 'none'}"
        )
    config: dict[str, Any] = {}
    clear: dict[str, str] = {}
    hashed: dict[str, str] = {}
    generated: dict[str, str] = {}
    for field in integration.config_fields:
        value = values.get(field.name, "").strip()
        if not value and field.secret and (field.required or field.hashed):
            value = secrets.token_urlsafe(24)
            generated[field.name] = value
        if not value:
            if field.required:
                raise ConnectionError_(f"field {field.name!r} ({field.label}) is required")
            continue
        if field.secret:
            (hashed if field.hashed else clear)[field.name] = value
        else:
            config[field.name] = value
    conn = Connection(integration=slug, name=name[:100], config=config)
    conn.set_secrets(clear, hashed)
    conn.save()
    return NewConnection(conn, generated)
