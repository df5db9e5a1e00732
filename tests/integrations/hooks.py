"""Posting fixtures to the real webhook receiver, signed at test time, and draining the real pipeline."""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from pathlib import Path
from typing import Any

from changetrack.ingest import pipeline
from changetrack.models import Change, Delivery

HERE = Path(__file__).parent


def fixture_bytes(slug: str, name: str) -> bytes:
    return (HERE / slug / "fixtures" / f"{name}.json").read_bytes()


def fixture(slug: str, name: str) -> Any:
    return json.loads(fixture_bytes(slug, name))


def hmac_hex(secret: str, body: bytes) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def post(client, conn, body: bytes, **headers: str):
    """POST like the vendor does; ``headers`` in Django's HTTP_X_... form."""
    return client.post(conn.webhook_path, body, content_type="application/json", **headers)


def drain_and_get(source: str, external_id: str) -> Change:
    pipeline.drain()
    return Change.objects.select_related("service").get(source=source, external_id=external_id)


def new_delivery_id() -> str:
    return str(uuid.uuid4())


def last_delivery() -> Delivery:
    return Delivery.objects.order_by("-received_at", "-id").first()
