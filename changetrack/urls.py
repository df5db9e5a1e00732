from django.contrib import admin
from django.urls import include, path

from changetrack import ops
from changetrack.ingest import receiver

urlpatterns = [
    path("hooks/<slug:slug>/<uuid:connection_id>/", receiver.receive, name="webhook"),
    path("healthz", ops.healthz),
    path("readyz", ops.readyz),
    path("metrics", ops.metrics),
    path("admin/", admin.site.urls),
    path("", include("changetrack.web.urls")),
]
