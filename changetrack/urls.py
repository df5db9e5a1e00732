from django.contrib import admin
from django.urls import include, path

from changetrack import ops
from changetrack.ingest import receiver
from changetrack.web import apidocs

urlpatterns = [
    path("hooks/<slug:slug>/<uuid:connection_id>/", receiver.receive, name="webhook"),
    path("healthz", ops.healthz, name="healthz"),
    path("readyz", ops.readyz, name="readyz"),
    path("metrics", ops.metrics, name="metrics"),
    path("api/v1/", include("changetrack.api.urls")),
    path("api/docs", apidocs.api_docs, name="api-docs"),
    path("admin/", admin.site.urls),
    path("", include("changetrack.web.urls")),
]
