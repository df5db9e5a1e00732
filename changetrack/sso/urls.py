"""``/oidc/authenticate/`` and ``/oidc/callback/`` (the callback is the redirect URI registered at the provider:
``PUBLIC_URL`` + ``/oidc/callback/``). ``changetrack.urls`` includes them only while SSO is configured."""

from django.urls import path

from changetrack.sso import views

app_name = "sso"
urlpatterns = [
    path("authenticate/", views.SSOStartView.as_view(), name="start"),
    path("callback/", views.SSOCallbackView.as_view(), name="callback"),
]
