"""``/api/v1/schema``: the OpenAPI schema, public only when ``API_SCHEMA_PUBLIC`` is set; otherwise for a token with
the ``read`` scope or a logged-in viewer (Swagger UI at ``/api/docs`` reads it with the viewer's session)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from drf_spectacular.views import SpectacularAPIView
from rest_framework import authentication, exceptions, permissions
from rest_framework.request import Request

from changetrack import roles
from changetrack.api import errors
from changetrack.api.auth import BearerTokenAuthentication, HasScope, TokenRateThrottle
from changetrack.models import ApiToken


class SchemaAccess(permissions.BasePermission):
    def has_permission(self, request: Request, view: Any) -> bool:
        if settings.API_SCHEMA_PUBLIC:
            return True
        if isinstance(request.auth, ApiToken):
            return HasScope().has_permission(request, view)
        if not request.user or not request.user.is_authenticated:
            raise exceptions.NotAuthenticated("Log in or send 'Authorization: Bearer <token>' to read the schema.")
        if request.user.has_perm(roles.READ):
            return True
        raise exceptions.PermissionDenied("Reading the schema needs the viewer role.")


class SchemaView(SpectacularAPIView):
    # the bearer scheme first: an anonymous request is answered 401 with its WWW-Authenticate challenge
    authentication_classes = [BearerTokenAuthentication, authentication.SessionAuthentication]
    permission_classes = [SchemaAccess]
    throttle_classes = [TokenRateThrottle]

    def get_exception_handler(self) -> Any:
        return errors.exception_handler
