"""Helpers for webhook integration tests: fixtures on disk, posting through the real receiver, signing.

Fixture convention (used by ``test_contract.py`` too): ``tests/integrations/<slug>/fixtures/<event>.json`` is a
vendor body; an optional ``<event>.headers.json`` next to it holds the vendor headers that name the event or
the delivery (never a signature or secret: those are computed at test time). A fixture whose name contains
``unsupported`` or ``ignored`` must produce no records.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from pathlib import Path
from typing import Any

ROOT = Path(__file__).parent

#: The shared test vector of integrations.md: the 24-byte body and PagerDuty's key and expected hex.
VECTOR_BODY = b'{"event":{"id":"evt-1"}}'
VECTOR_PD_KEY = "pd-secret"
VECTOR_PD_HEX = "8c9269143118617c23615cbcbf3b102de62792341f0fd4603bb18e49723a8556"


def fixture_path(slug: str, name: str) -> Path:
    return ROOT / slug / "fixtures" / f"{name}.json"


def fixture_body(slug: str, name: str) -> bytes:
    return fixture_path(slug, name).read_bytes()


def fixture_json(slug: str, name: str) -> Any:
    return json.loads(fixture_body(slug, name))


def fixture_headers(slug: str, name: str) -> dict[str, str]:
    sidecar = ROOT / slug / "fixtures" / f"{name}.headers.json"
    return json.loads(sidecar.read_text()) if sidecar.exists() else {}


def hmac_hex(key: str, body: bytes) -> str:
    return hmac.new(key.encode(), body, hashlib.sha256).hexdigest()


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def post(client: Any, conn: Any, body: bytes | str, headers: dict[str, str] | None = None) -> Any:
    """POST raw bytes to the connection's webhook URL through Django's test client (the real receiver)."""
    data = body.encode() if isinstance(body, str) else body
    return client.post(conn.webhook_path, data=data, content_type="application/json", headers=headers or {})


def drain() -> Any:
    """Run the real pipeline over every pending delivery."""
    from changetrack.ingest import pipeline

    return pipeline.drain()
