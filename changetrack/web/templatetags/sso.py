"""``{% sso_login_url as url %}``: where "Sign in with SSO" goes, or "" while SSO is off."""

from __future__ import annotations

from django import template
from django.urls import reverse

from changetrack.sso import config

register = template.Library()


@register.simple_tag
def sso_login_url() -> str:
    return reverse("sso:start") if config.current() is not None else ""
