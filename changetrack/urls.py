from django.conf import settings
from django.urls import include, path

from changetrack import admin, ops
from changetrack.ingest import receiver
from changetrack.notify import interactivity
from changetrack.web import apidocs

urlpatterns = [
    # Slack's clicks are a signed form that needs a synchronous 200: their own view, before the receiver's route
    path("hooks/slack/<uuid:connection_id>/", interactivity.receive, name="slack_interactivity"),
    path("hooks/<slug:slug>/<uuid:connection_id>/", receiver.receive, name="webhook"),
    path("hooks/<slug:slug>/<uuid:connection_id>/<path:subpath>", receiver.receive_at_subpath, name="webhook_subpath"),
    path("healthz", ops.healthz, name="healthz"),
    path("readyz", ops.readyz, name="readyz"),
    path("metrics", ops.metrics, name="metrics"),
    path("api/v1/", include("changetrack.api.urls")),
    path("api/docs", apidocs.api_docs, name="api-docs"),
    path("admin/", admin.site_urls()),
    path("", include("changetrack.web.urls")),
]
if settings.SSO is not None:  # OpenID Connect is configured (OIDC_* variables): /oidc/authenticate/, /oidc/callback/
    urlpatterns.append(path("oidc/", include("changetrack.sso.urls")))

handler400 = ops.bad_request
