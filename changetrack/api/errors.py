"""Every API failure as ``application/problem+json`` (RFC 9457), and a JSON parser that cannot be made to 500.

``errors`` has one entry per bad field: ``{"field": "summary", "detail": "..."}``; inside an array the entry
also names the item: ``{"index": 3, "field": "[3].summary", "detail": "..."}``.
"""

from __future__ import annotations

import json
import logging
import math
import re
from typing import Any

from django.conf import settings
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.parsers import BaseParser
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

logger = logging.getLogger(__name__)

PROBLEM_CONTENT_TYPE = "application/problem+json"
TITLES = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    406: "Not Acceptable",
    413: "Payload Too Large",
    415: "Unsupported Media Type",
    429: "Too Many Requests",
}


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


def problem(
    status_code: int, detail: str, errors: list[dict[str, Any]] | None = None, title: str | None = None
) -> Response:
    body: dict[str, Any] = {
        "type": "about:blank",
        "title": title or TITLES.get(status_code, "Error"),
        "status": status_code,
        "detail": detail,
        "errors": errors or [],
    }
    return Response(body, status=status_code, content_type=PROBLEM_CONTENT_TYPE)


def _detail_text(exc: exceptions.APIException, errors: list[dict[str, Any]]) -> str:
    if isinstance(exc, exceptions.ValidationError):
        if len(errors) == 1:
            return f"{errors[0]['field']}: {errors[0]['detail']}"
        return f"{len(errors)} fields are invalid; see errors"
    detail = exc.detail
    if isinstance(detail, (list, dict)):
        return "; ".join(e["detail"] for e in flatten_errors(detail))
    return str(detail)


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
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
    out = problem(response.status_code, detail, errors)
    for name in ("Retry-After", "WWW-Authenticate", "Allow"):
        if name in response:
            out[name] = response[name]
    if isinstance(exc, exceptions.Throttled) and exc.wait is not None:
        out["Retry-After"] = str(max(int(exc.wait + 0.999), 1))
    return out


_SUSPECT_ESCAPE = re.compile(rb"\\u(?:0000|[dD][89a-fA-F])")


def _finite_float(text: str) -> float:
    value = float(text)
    if math.isinf(value):  # 1e400: valid JSON, but PostgreSQL's jsonb cannot hold an infinity
        raise ValueError(f"number {text[:40]} is out of range")
    return value


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def check_text(value: Any, path: str = "body") -> None:
    """PostgreSQL cannot store NUL characters or lone surrogates: reject them as bad input, not a 500."""
    stack: list[tuple[Any, str]] = [(value, path)]
    while stack:
        item, where = stack.pop()
        if isinstance(item, str):
            if "\x00" in item:
                raise exceptions.ParseError(f"{where} contains a NUL character")
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                raise exceptions.ParseError(f"{where} contains an unpaired surrogate") from None
        elif isinstance(item, dict):
            for key, sub in item.items():
                stack.append((key, where))
                stack.append((sub, f"{where}.{key}"))
        elif isinstance(item, list):
            stack.extend((sub, f"{where}[{i}]") for i, sub in enumerate(item))


class StrictJSONParser(BaseParser):
    """JSON bodies only, bounded in size; NaN/Infinity, NUL characters and deep nesting are 400s."""

    media_type = "application/json"

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        limit = settings.API_MAX_BODY_BYTES
        raw = stream.read(limit + 1) if stream is not None else b""
        if len(raw) > limit:
            raise PayloadTooLarge(f"The request body is over the {limit}-byte limit.")
        try:
            data = json.loads(raw.decode("utf-8"), parse_constant=_reject_constant, parse_float=_finite_float)
        except UnicodeDecodeError:
            raise exceptions.ParseError("The body is not valid UTF-8.") from None
        except RecursionError:
            raise exceptions.ParseError("The body is nested too deeply.") from None
        except json.JSONDecodeError as exc:
            raise exceptions.ParseError(f"Malformed JSON: {exc.msg} at line {exc.lineno} column {exc.colno}.") from None
        except ValueError as exc:
            raise exceptions.ParseError(f"Malformed JSON: {exc}.") from None
        if _SUSPECT_ESCAPE.search(raw):  # NUL and lone surrogates can only arrive as \u escapes
            check_text(data)
        return data
