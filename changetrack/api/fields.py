"""Strict input fields: strings must be strings, timestamps must carry an offset, services are references."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from integrations.base import EARLIEST, LATEST, ServiceHint

SERVICE_REF_SCHEMA: dict[str, Any] = {
    "oneOf": [
        {
            "type": "string",
            "minLength": 1,
            "maxLength": 253,
            "description": "a service name, or namespace/name, or cluster/namespace/name",
        },
        {
            "type": "object",
            "properties": {
                "name": {"type": "string", "minLength": 1, "maxLength": 253},
                "namespace": {"type": "string", "maxLength": 253},
                "cluster": {"type": "string", "maxLength": 100},
            },
            "required": ["name"],
            "additionalProperties": False,
        },
    ],
}


class StrictCharField(serializers.CharField):
    """A CharField that refuses numbers and booleans instead of turning them into strings."""

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class OffsetDateTimeField(serializers.DateTimeField):
    """RFC 3339 with an offset (``2026-11-21T10:04:00Z``). A naive timestamp is ambiguous and rejected."""

    default_error_messages = {
        "invalid": "Not an RFC 3339 timestamp (e.g. 2026-11-21T10:04:00Z).",
        "naive": "The timestamp has no UTC offset; add 'Z' or '+hh:mm'.",
        "range": "The timestamp is outside 1970-01-01 .. 2199-12-31.",
    }

    def to_internal_value(self, value: Any) -> datetime:
        if not isinstance(value, str) or len(value) > 64:
            self.fail("invalid")
        text = value.strip()
        if text[-1:] in ("z", "Z"):
            text = text[:-1] + "+00:00"
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            self.fail("invalid")
        if parsed.tzinfo is None:
            self.fail("naive")
        try:
            moment = parsed.astimezone(UTC)
        except (OverflowError, ValueError):
            self.fail("invalid")
        if not EARLIEST <= moment < LATEST:
            self.fail("range")
        return moment
        raise AssertionError("unreachable: fail() raises")


@extend_schema_field(SERVICE_REF_SCHEMA)
class ServiceRefField(serializers.Field):
    """``"checkout"`` (or ``"shop/checkout"``, ``"prod-us/shop/checkout"``) or
    ``{"name": "checkout", "namespace": "shop", "cluster": "prod-us"}`` → a ServiceHint
    that creates the service when it does not exist yet (the API is an authoritative source)."""

    default_error_messages = {
        "invalid": "A service is a name or an object {{name, namespace?, cluster?}}.",
        "unknown": "Unknown key(s) in the service reference: {keys}.",
    }
    LIMITS = {"name": 253, "namespace": 253, "cluster": 100}

    def to_internal_value(self, data: Any) -> ServiceHint:
        if isinstance(data, str):
            if len(data) > self.LIMITS["name"]:
                raise serializers.ValidationError({"name": f"At most {self.LIMITS['name']} characters."})
            try:
                hint = ServiceHint.from_path(data, create=True)
            except ValueError as exc:
                raise serializers.ValidationError({"name": str(exc)}) from None
            data = {"name": hint.name, "namespace": hint.namespace, "cluster": hint.cluster}
        if not isinstance(data, dict):
            self.fail("invalid")
        unknown = sorted(set(data) - set(self.LIMITS))
        if unknown:
            self.fail("unknown", keys=", ".join(unknown))
        errors: dict[str, str] = {}
        values: dict[str, str] = {}
        for key, limit in self.LIMITS.items():
            value = data.get(key, "")
            if not isinstance(value, str):
                errors[key] = "Must be a string."
            elif len(value.strip()) > limit:
                errors[key] = f"At most {limit} characters."
            else:
                values[key] = value.strip()
        if not errors and not values.get("name"):
            errors["name"] = "A service name is required."
        if errors:
            raise serializers.ValidationError(errors)
        return ServiceHint(name=values["name"], namespace=values["namespace"], cluster=values["cluster"], create=True)

    def to_representation(self, value: Any) -> Any:
        return value.as_dict() if isinstance(value, ServiceHint) else value


@extend_schema_field(OpenApiTypes.OBJECT)
class ObjectField(serializers.JSONField):
    """A JSON object (not a list or scalar)."""

    default_error_messages = {"not_object": "Must be a JSON object."}

    def to_internal_value(self, data: Any) -> Any:
        if not isinstance(data, dict):
            self.fail("not_object")
        return data
