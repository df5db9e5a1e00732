"""PagerDuty Change Events (Events API v2 body) → changes.

https://developer.pagerduty.com/docs/events-api-v2/send-change-events/: pipelines that already POST change
events to ``events.pagerduty.com/v2/change/enqueue`` can POST the same body to us. The body's ``routing_key``
is a credential: it is checked against the connection's hashed ``routing_key`` and removed before the
delivery is stored (``redact``), so it never reaches the database in clear.

Mapping (ours, PagerDuty has no such fields): ``custom_details.kind`` when it is one of our change kinds,
else ``custom``; the service is ``custom_details.service`` or the connection's ``change_service``, with
``custom_details.environment``/``env`` and ``namespace``; ``payload.source`` is kept as a
``pagerduty_change_source`` alias key. There is no event ID, so the external ID is a hash of the body
without its routing key: a re-sent identical event is the same change.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from integrations.base import (
    CHANGE_KINDS,
    ChangeRecord,
    ParseError,
    Record,
    ServiceHint,
    parse_time,
    require,
    require_str,
)

KINDS = CHANGE_KINDS
REDACTED = "[redacted]"


def is_change_event(payload: Any) -> bool:
    return isinstance(payload, Mapping) and "routing_key" in payload and "payload" in payload and "event" not in payload


def redact(payload: Mapping[str, Any]) -> bytes:
    """The body to store: the same event with its routing key replaced."""
    return json.dumps({**payload, "routing_key": REDACTED}, separators=(",", ":"), ensure_ascii=False).encode()


def external_id(payload: Mapping[str, Any]) -> str:
    canonical = json.dumps(
        {"payload": payload.get("payload"), "links": payload.get("links")},
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return "change:" + hashlib.sha256(canonical.encode()).hexdigest()[:40]


def _detail(details: Mapping[str, Any], *names: str) -> str:
    for name in names:
        value = details.get(name)
        if isinstance(value, (str, int, float)) and not isinstance(value, bool) and str(value).strip():
            return str(value).strip()
    return ""


def _links(payload: Mapping[str, Any]) -> tuple[dict[str, str], ...]:
    links = payload.get("links") or []
    if not isinstance(links, list):
        raise ParseError("field 'links' must be a list")
    out = []
    for i, link in enumerate(links):
        href = require_str(links, i, "href")
        out.append({"href": href[:1000], "text": str(link.get("text") or "")[:200]})
    return tuple(out)


def parse_change_event(payload: Any, config: Mapping[str, Any]) -> list[Record]:
    body = require(payload, "payload")
    if not isinstance(body, Mapping):
        raise ParseError("field 'payload' must be an object")
    summary = require_str(body, "summary")
    if len(summary) > 1024:
        raise ParseError("field 'payload.summary' is longer than 1024 characters")
    details = body.get("custom_details") or {}
    if not isinstance(details, Mapping):
        raise ParseError("field 'payload.custom_details' must be an object")
    # PagerDuty stamps the receipt time when timestamp is missing; parsing happens seconds after receipt
    occurred = parse_time(body["timestamp"], "payload.timestamp") if body.get("timestamp") else datetime.now(UTC)
    kind = _detail(details, "kind", "change_type").lower()
    source = str(body.get("source") or "")
    name = _detail(details, "service") or str(config.get("change_service") or "")
    keys = (("pagerduty_change_source", source),) if source else ()
    hint = ServiceHint(
        name=name, env=_detail(details, "environment", "env"), namespace=_detail(details, "namespace"), keys=keys
    )
    return [
        ChangeRecord(
            source="pagerduty",
            external_id=external_id(payload),
            kind=kind if kind in KINDS else "custom",
            occurred_at=occurred,
            summary=summary,
            service=hint,
            actor=_detail(details, "actor", "author", "user", "triggered_by")[:255],
            details={"source": source, "custom_details": dict(details)},
            links=_links(payload),
            commit_sha=_detail(details, "sha", "commit", "commit_sha", "revision"),
            repository=_detail(details, "repository", "repo"),
        )
    ]
