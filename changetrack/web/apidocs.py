"""``/api/docs``: Swagger UI over the OpenAPI schema, served from the vendored ``swagger-ui-dist`` (nothing is
fetched from another host), for logged-in viewers. The page reads the schema with the viewer's session."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse

from changetrack.web import access


@access.viewer
def api_docs(request: HttpRequest) -> HttpResponse:
    return render(request, "web/api_docs.html", {"schema_url": reverse("api-schema")})
