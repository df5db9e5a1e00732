"""Every error answer as ``application/problem+json`` (RFC 9457), in the one shape ``api.md`` documents.

``{"type", "title", "status", "detail", "errors"}``: ``errors`` has one entry per bad field (empty when the
problem is not about fields). The REST API (through DRF's exception handler), the webhook receiver, the
database-unavailable middleware and the pages' JSON endpoints all answer through ``problem_response``, so a
client parses one shape whichever door it knocked on.
"""

from __future__ import annotations

from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

from django.http import JsonResponse

CONTENT_TYPE = "application/problem+json"


def title_for(status: int) -> str:
    """The status code's reason phrase ("Payload Too Large" for 413, as RFC 9110 names it)."""
    if status == 413:  # Python calls it "Request Entity Too Large" (RFC 2616); keep the phrase clients see today
        return "Payload Too Large"
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def problem_body(
    status: int, detail: str, errors: list[dict[str, Any]] | None = None, title: str | None = None
) -> dict[str, Any]:
    """The problem document. ``type`` is ``about:blank``: the status code and ``title`` say what happened."""
    return {
        "type": "about:blank",
        "title": title or title_for(status),
        "status": status,
        "detail": detail,
        "errors": errors or [],
    }


def problem_response(
    status: int,
    detail: str,
    errors: list[dict[str, Any]] | None = None,
    *,
    title: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> JsonResponse:
    """``problem_body`` as a response. JSON is ASCII-escaped, so a detail quoting hostile input (a lone
    surrogate) can still be encoded."""
    response = JsonResponse(problem_body(status, detail, errors, title), status=status, content_type=CONTENT_TYPE)
    for name, value in (headers or {}).items():
        response[name] = value
    return response
