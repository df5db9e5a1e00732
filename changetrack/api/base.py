"""The base of every API view: token auth, scopes, the Redis rate limit, strict JSON, problem+json errors."""

from __future__ import annotations

from typing import Any, TypeVar

from django.db.models import Model, QuerySet
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import exceptions, generics
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request

from changetrack.api import errors
from changetrack.api.auth import BearerTokenAuthentication, HasScope, TokenRateThrottle
from changetrack.api.outputs import ProblemSerializer
from changetrack.infra import problems

M = TypeVar("M", bound=Model)
MAX_ID = 2**63 - 1


def problem_responses(*codes: int) -> dict[Any, Any]:
    """The documented error answers of an operation (schemathesis holds us to them)."""
    return {(code, problems.CONTENT_TYPE): ProblemSerializer for code in codes}


READ_ERRORS = problem_responses(400, 401, 403, 404, 429)
WRITE_ERRORS = problem_responses(400, 401, 403, 404, 413, 415, 429)


def read_schema(operation_id: str, response: Any, description: str, **params: tuple[OpenApiTypes, str]) -> Any:
    """The documentation of a read: its answer, the read errors, and each query parameter as
    ``name=(OpenApiTypes.X, "what it means")``."""
    return extend_schema(
        operation_id=operation_id,
        responses={200: response, **READ_ERRORS},
        parameters=[OpenApiParameter(name, kind, description=text) for name, (kind, text) in params.items()],
        description=description,
    )


class BearerScheme(OpenApiAuthenticationExtension):  # type: ignore[no-untyped-call]
    target_class = "changetrack.api.auth.BearerTokenAuthentication"
    name = "bearerAuth"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {"type": "http", "scheme": "bearer", "description": "a token from `manage.py create_api_token`"}


class ApiView(generics.GenericAPIView):
    authentication_classes = [BearerTokenAuthentication]
    permission_classes = [HasScope]
    throttle_classes = [TokenRateThrottle]
    parser_classes = [errors.StrictJSONParser]
    renderer_classes = [JSONRenderer]
    read_scope = "read"
    write_scope = "write"
    metadata_class = None  # OPTIONS answers 405: the schema describes the API, not per-view metadata

    def get_exception_handler(self) -> Any:
        return errors.exception_handler

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)
        for name, value in request.query_params.items():
            if "\x00" in value or "\x00" in name:
                raise exceptions.ParseError(f"query parameter {name!r} contains a NUL character")


@csrf_exempt
def not_found(request: HttpRequest, *args: Any, **kwargs: Any) -> JsonResponse:
    """Any other path under /api/v1/ (including non-numeric ids): a problem, not Django's HTML page."""
    return problems.problem_response(404, f"No API resource at {request.path[:200]}.")


def get_or_404(queryset: QuerySet[M], pk: int, what: str) -> M:
    """``queryset.get(pk=pk)`` or a 404 problem (ids beyond bigint are simply not found)."""
    obj = queryset.filter(pk=pk).first() if 0 < pk <= MAX_ID else None
    if obj is None:
        raise exceptions.NotFound(f"No {what} with id {pk}.")
    return obj
