"""One middleware refuses a NUL character in query parameters and web form fields, for every view at once.

PostgreSQL text holds no NUL, so a ``%00`` that reached a filter, a search or the unmapped-map form failed in the
database and answered 500. Bodies of webhooks and API calls are not read here (their JSON passes the JSON-safety
check, and reading a form body here would consume it before the receiver verifies the raw bytes).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from django.http import HttpRequest, HttpResponse

from changetrack.infra.problems import problem_response

#: paths whose bodies belong to their view, read raw (webhook signatures) or parsed by DRF
_RAW_BODY_PREFIXES = ("/hooks/", "/api/")
_FORMS = ("application/x-www-form-urlencoded", "multipart/form-data")


class RejectNulMiddleware:
    """400 problem+json for a NUL in any query parameter (name or value) or, outside webhooks and the API, any
    form field."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if "\x00" in request.path or _has_nul(request.GET.lists()):
            return problem_response(400, "a query parameter contains a NUL character (%00), which is not allowed")
        if (
            request.method == "POST"
            and request.content_type in _FORMS
            and not request.path.startswith(_RAW_BODY_PREFIXES)
            and _has_nul(request.POST.lists())
        ):
            return problem_response(400, "a form field contains a NUL character, which is not allowed")
        return self.get_response(request)


def _has_nul(items: Iterable[tuple[str, list[str]]]) -> bool:
    return any("\x00" in name or any("\x00" in value for value in values) for name, values in items)
