from django.conf import settings
from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularSwaggerView

from changetrack import ops
from changetrack.ingest import receiver

urlpatterns = [
    path("hooks/<slug:slug>/<uuid:connection_id>/", receiver.receive, name="webhook"),
    path("hooks/<slug:slug>/<uuid:connection_id>/<path:subpath>", receiver.receive_at_subpath),
    path("healthz", ops.healthz),
    path("readyz", ops.readyz),
    path("metrics", ops.metrics),
    path("api/v1/", include("changetrack.api.urls")),
    path("api/docs", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    path("admin/", admin.site.urls),
    path("", include("changetrack.web.urls")),
]
if settings.SSO is not None:  # OpenID Connect is configured (OIDC_* variables): /oidc/authenticate/, /oidc/callback/
    urlpatterns.append(path("oidc/", include("changetrack.sso.urls")))
