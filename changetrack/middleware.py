"""Answer 503 with Retry-After while the database is unreachable, instead of a 500."""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse

from changetrack.infra.problems import problem_response

logger = logging.getLogger(__name__)


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
