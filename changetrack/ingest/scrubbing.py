"""Where the one scrubber (``integrations.scrub``) is applied: to every record before it is stored
(``store_records``: webhooks' pipeline, the API, the Kubernetes collector, pollers), to raw delivery bodies and
headers in the receiver, and (through ``scrub_key``) to the Kubernetes collector's stored object states.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Any

from django.conf import settings

from integrations.base import AlertRecord, ChangeRecord, DependencyRecord, Record
from integrations.scrub import scrub_text, scrub_value

#: Headers kept with a stored delivery, for the delivery page: what says which event it was and who sent it.
#: Nothing reads headers after storage (the pipeline uses the stored event type and body, signatures are checked
#: before storing), so everything else is dropped: an allow-list, because vendors invent credential headers.
KEPT_HEADERS = frozenset(
    {
        "content-type",
        "content-length",
        "content-encoding",
        "user-agent",
        "x-request-id",
        "x-github-event",
        "x-github-delivery",
        "x-github-hook-id",
        "x-github-hook-installation-target-id",
        "x-github-hook-installation-target-type",
        "x-webhook-id",
    }
)


def scrub_key(secret_key: str | None = None) -> bytes:
    """The key of every scrubbed value's hash, derived from ``SECRET_KEY`` (or ``secret_key``, a fallback's) so a
    value cannot be brute-forced from the database alone. The purpose string is the one Kubernetes Secret hashes
    always used, so hashes stored before the scrubber existed still compare equal."""
    return _key(secret_key or settings.SECRET_KEY)


@lru_cache(maxsize=4)
def _key(secret_key: str) -> bytes:
    return hashlib.sha256(b"changetrack.kubernetes.secret-hash\0" + secret_key.encode()).digest()


def scrub_records(records: Sequence[Record]) -> list[Record]:
    """``records`` with every credential in their text fields replaced by its keyed hash (the same objects when
    there was none)."""
    key = scrub_key()
    return [_scrub_record(r, key) for r in records]


def _scrub_record(record: Record, key: bytes) -> Record:
    changed: dict[str, Any] = {}
    for name in _FIELDS[type(record)]:
        value = getattr(record, name)
        new = scrub_value(value, key)
        if new is not value:
            changed[name] = new
    return dataclasses.replace(record, **changed) if changed else record


_FIELDS: dict[type, tuple[str, ...]] = {
    ChangeRecord: ("summary", "actor", "details", "diff", "links", "repository"),
    AlertRecord: ("title", "labels", "details", "links", "url"),
    DependencyRecord: ("evidence",),
}


def scrubbed_payload(payload: Any) -> Any:
    """A delivery's decoded body with its credentials hashed (``payload`` itself when it had none)."""
    return scrub_value(payload, scrub_key())


def scrubbed_text(text: str) -> str:
    """``text`` (a delivery key, an event type) with its credentials hashed."""
    return scrub_text(text, scrub_key())


def payload_bytes(payload: Any) -> bytes:
    """A scrubbed payload as the bytes stored with the delivery."""
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()


def storable_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """The allow-listed headers (``KEPT_HEADERS``), values cut to 1,000 characters and scrubbed."""
    key = scrub_key()
    return {name: scrub_text(value[:1000], key) for name, value in headers.items() if name.lower() in KEPT_HEADERS}
