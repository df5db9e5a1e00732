from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularSwaggerView

from changetrack import ops
from changetrack.ingest import receiver

urlpatterns = [
    path("hooks/<slug:slug>/<uuid:connection_id>/", receiver.receive, name="webhook"),
    path("healthz", ops.healthz),
    path("readyz", ops.readyz),
    path("metrics", ops.metrics),
    path("api/v1/", include("changetrack.api.urls")),
    path("api/docs", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    path("admin/", admin.site.urls),
    path("oidc/", include("changetrack.sso.urls")),  # 404 while SSO is off (settings.SSO is None)
    path("", include("changetrack.web.urls")),
]
