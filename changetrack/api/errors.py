"""Every API failure as ``application/problem+json`` (RFC 9457, built by ``changetrack.infra.problems``), and a
JSON parser that cannot be made to 500 (its rules are the one JSON-safety check, ``integrations.jsonsafety``).

``errors`` has one entry per bad field: ``{"field": "summary", "detail": "..."}``; inside an array the entry
also names the item: ``{"index": 3, "field": "[3].summary", "detail": "..."}``.
"""

from __future__ import annotations

import json
from typing import Any

from django.conf import settings
from django.http import Http404, HttpResponse
from rest_framework import exceptions, status
from rest_framework.parsers import BaseParser
from rest_framework.views import exception_handler as drf_exception_handler

from changetrack.infra.problems import problem_response
from integrations import jsonsafety


class PayloadTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "The request body is too large."
    default_code = "payload_too_large"


def flatten_errors(detail: Any, prefix: str = "", index: int | None = None) -> list[dict[str, Any]]:
    """DRF's nested error detail → a flat list, one entry per bad field, paths like ``[3].service.name``."""
    out: list[dict[str, Any]] = []
    if isinstance(detail, dict):
        for key, value in detail.items():
            name = str(key)
            if name == "non_field_errors":
                path = prefix or "body"
            else:
                path = f"{prefix}.{name}" if prefix else name
            out += flatten_errors(value, path, index)
    elif isinstance(detail, list) and detail and all(isinstance(d, (str, exceptions.ErrorDetail)) for d in detail):
        entry: dict[str, Any] = {"field": prefix or "body", "detail": " ".join(str(d) for d in detail)}
        if index is not None:
            entry["index"] = index
        out.append(entry)
    elif isinstance(detail, list):
        for i, value in enumerate(detail):
            if value:
                out += flatten_errors(value, f"{prefix}[{i}]", index)
    else:
        entry = {"field": prefix or "body", "detail": str(detail)}
        if index is not None:
            entry["index"] = index
        out.append(entry)
    return out


class ItemsInvalid(exceptions.ValidationError):
    """An array of items where some are invalid: ``errors`` is already flat and names each index."""

    def __init__(self, errors: list[dict[str, Any]], detail: str):
        super().__init__(detail)
        self.flat_errors = errors
        self.summary = detail


def _detail_text(exc: exceptions.APIException, errors: list[dict[str, Any]]) -> str:
    if isinstance(exc, exceptions.ValidationError):
        if len(errors) == 1:
            return f"{errors[0]['field']}: {errors[0]['detail']}"
        return f"{len(errors)} fields are invalid; see errors"
    detail = exc.detail
    if isinstance(detail, (list, dict)):
        return "; ".join(e["detail"] for e in flatten_errors(detail))
    return str(detail)


def exception_handler(exc: Exception, context: dict[str, Any]) -> HttpResponse | None:
    """DRF's handler, rewritten as problem+json; keeps DRF's headers (Retry-After, WWW-Authenticate)."""
    if isinstance(exc, Http404):
        exc = exceptions.NotFound(str(exc) or "Not found.")
    response = drf_exception_handler(exc, context)
    if response is None or not isinstance(exc, exceptions.APIException):
        return response  # not a client error: Django's own 500 handling (and logging) applies
    if isinstance(exc, ItemsInvalid):
        errors, detail = exc.flat_errors, exc.summary
    else:
        errors = flatten_errors(exc.detail) if isinstance(exc, exceptions.ValidationError) else []
        detail = _detail_text(exc, errors)
    out = problem_response(response.status_code, detail, errors)
    for name in ("Retry-After", "WWW-Authenticate", "Allow"):
        if name in response:
            out[name] = response[name]
    if isinstance(exc, exceptions.Throttled) and exc.wait is not None:
        out["Retry-After"] = str(max(int(exc.wait + 0.999), 1))
    return out


class StrictJSONParser(BaseParser):
    """JSON bodies only, bounded in size; whatever the JSON-safety check refuses (NaN/Infinity, ``1e400``, NUL
    characters, lone surrogates, deep nesting) is a 400."""

    media_type = "application/json"

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        limit = settings.API_MAX_BODY_BYTES
        raw = stream.read(limit + 1) if stream is not None else b""
        if len(raw) > limit:
            raise PayloadTooLarge(f"The request body is over the {limit}-byte limit.")
        try:
            return jsonsafety.loads(raw.decode("utf-8"))
        except UnicodeDecodeError:
            raise exceptions.ParseError("The body is not valid UTF-8.") from None
        except RecursionError:
            raise exceptions.ParseError("The body is nested too deeply.") from None
        except jsonsafety.UnsafeJSON as exc:
            raise exceptions.ParseError(f"{exc}.") from None
        except json.JSONDecodeError as exc:
            raise exceptions.ParseError(f"Malformed JSON: {exc.msg} at line {exc.lineno} column {exc.colno}.") from None
        except ValueError as exc:
            raise exceptions.ParseError(f"Malformed JSON: {exc}.") from None
