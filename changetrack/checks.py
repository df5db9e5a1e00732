"""System checks of the production posture (``manage.py check --deploy``)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Error, Tags, register

from changetrack import embedded


@register(Tags.security, deploy=True)
def dev_secret_key(app_configs: Any, **kwargs: Any) -> list[CheckMessage]:
    """A development key (the old public constant, or one generated into ``.data``) signs sessions and encrypts
    connection secrets as well as a random one would, but it is not secret: never deploy with it."""
    keys = [("SECRET_KEY", settings.SECRET_KEY), *(("SECRET_KEY_FALLBACKS", k) for k in settings.SECRET_KEY_FALLBACKS)]
    return [
        Error(
            f"{name} is a development key.",
            hint="Set SECRET_KEY (or SECRET_KEY_FILE) to a long random value, e.g. "
            "`python -c 'import secrets; print(secrets.token_urlsafe(64))'`.",
            id="changetrack.E001",
        )
        for name, key in keys
        if embedded.is_dev_secret_key(key)
    ]
