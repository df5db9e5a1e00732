"""Request-wide middleware: a request id on every log line and response; 503 while the database is unreachable."""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Callable

from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse

from changetrack import logs
from changetrack.infra.problems import problem_response

logger = logging.getLogger(__name__)

REQUEST_ID_HEADER = "X-Request-ID"
#: an id a proxy or client sent is kept only if it is short and plain (it lands in every log line of the request)
_SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")


class RequestIdMiddleware:
    """First in the chain: takes a sane ``X-Request-ID`` or makes one, binds it to every log record emitted while
    the request is handled, and answers it in the same header (gunicorn's access line shows it from there)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        sent = request.headers.get(REQUEST_ID_HEADER, "")
        request_id = sent if _SANE_REQUEST_ID.fullmatch(sent) else uuid.uuid4().hex
        token = logs.bind(request_id=request_id)
        try:
            response = self.get_response(request)
        finally:
            logs.unbind(token)
        response[REQUEST_ID_HEADER] = request_id
        return response


class DatabaseUnavailableMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if isinstance(exception, (OperationalError, InterfaceError)):
            logger.warning("db.unavailable", extra={"path": request.path, "error": type(exception).__name__})
            return problem_response(503, "the database is unreachable; retry shortly", headers={"Retry-After": "5"})
        return None
