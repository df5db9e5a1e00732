"""A generic JSON webhook: our own change/alert format (the same bodies as the REST API), shared secret.

Useful for scripts that cannot hold an API token, and the reference implementation of the contract."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from integrations.base import (
    CHANGE_KINDS,
    AlertRecord,
    ChangeRecord,
    ConfigField,
    Integration,
    ParseError,
    Record,
    ServiceHint,
    VerificationError,
    event_field,
    parse_time,
    require,
    require_str,
)

KINDS = CHANGE_KINDS


def _hint(ref: Any) -> ServiceHint:
    if isinstance(ref, str) and ref:
        try:
            return ServiceHint.from_path(ref, create=True)
        except ValueError as exc:
            raise ParseError(f"field 'service': {exc}") from None
    if isinstance(ref, Mapping) and isinstance(ref.get("name"), str) and ref["name"]:
        return ServiceHint(
            name=ref["name"],
            namespace=_optional_str(ref, "namespace"),
            cluster=_optional_str(ref, "cluster"),
            create=True,
        )
    raise ParseError("field 'service' must be a name or an object with a name")


def _optional_str(ref: Mapping[str, Any], key: str) -> str:
    # an object or array here used to be stored as its Python repr under a service nobody asked for
    value = ref.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ParseError(f"field 'service.{key}' must be a string")
    return value


def parse_change(payload: Any, config: Mapping[str, Any]) -> list[Record]:
    kind = require_str(payload, "kind")
    if kind not in KINDS:
        raise ParseError(f"field 'kind' must be one of {', '.join(sorted(KINDS))}")
    summary = require_str(payload, "summary")[:1024]
    occurred = parse_time(require(payload, "timestamp"))
    external_id = require_str(payload, "external_id")
    return [
        ChangeRecord(
            source="generic",
            external_id=external_id,
            kind=kind,
            occurred_at=occurred,
            summary=summary,
            service=_hint(require(payload, "service")),
            actor=str(payload.get("actor") or ""),
            details=payload.get("details") if isinstance(payload.get("details"), dict) else {},
        )
    ]


def parse_alert(payload: Any, config: Mapping[str, Any]) -> list[Record]:
    status = require_str(payload, "status")
    if status not in {"triggered", "resolved"}:
        raise ParseError("field 'status' must be triggered or resolved")
    return [
        AlertRecord(
            source="generic",
            external_id=require_str(payload, "external_id"),
            title=require_str(payload, "title")[:1024],
            status=status,
            occurred_at=parse_time(require(payload, "timestamp")),
            service=_hint(require(payload, "service")),
            severity=str(payload.get("severity") or "error"),
        )
    ]


class GenericIntegration(Integration):
    slug = "generic"
    label = "Generic JSON"
    emits = ("changes", "alerts")
    config_fields = (
        ConfigField("token", "Shared secret (header X-Changetrack-Token)", secret=True, hashed=True, required=True),
    )
    parsers = {"change": parse_change, "alert": parse_alert}
    setup_instructions = (
        "POST JSON to the webhook URL with header X-Changetrack-Token: <secret>. "
        'Body: {"type": "change", "service": ..., "kind": ..., "summary": ..., "timestamp": ..., "external_id": ...}'
    )

    def verify(self, headers: Mapping[str, str], raw_body: bytes, secrets: Any) -> None:
        if not secrets.matches("token", headers.get("X-Changetrack-Token")):
            raise VerificationError("missing or wrong X-Changetrack-Token")

    def event_type(self, headers: Mapping[str, str], payload: Any) -> str:
        return event_field(payload, "type")

    def delivery_key(self, headers: Mapping[str, str], raw_body: bytes, payload: Any) -> str:
        # the timestamp is part of it: an alert that fires again after resolving has the same id and status as
        # its first firing and must not be taken for a retry of it (a retry repeats the timestamp)
        return ":".join(str(payload.get(k, "")) for k in ("type", "external_id", "status", "timestamp"))
