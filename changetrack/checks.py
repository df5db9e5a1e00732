"""System checks of the production posture (``manage.py check --deploy``)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.checks import CheckMessage, Error, Tags, Warning, register

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


@register(Tags.security, deploy=True)
def public_url(app_configs: Any, **kwargs: Any) -> list[CheckMessage]:
    """Webhook URLs and links are built from ``PUBLIC_URL``: one that names this machine, or plain http, is
    shown to people and vendors who then cannot reach changetrack, or send their secrets in clear."""
    parts = urlsplit(settings.PUBLIC_URL)
    out: list[CheckMessage] = []
    if parts.hostname in ("localhost", "127.0.0.1", "::1", "0.0.0.0"):  # noqa: S104 - a name compared, not bound
        out.append(
            Warning(
                f"PUBLIC_URL is {settings.PUBLIC_URL}: the webhook URLs and links changetrack shows name this machine.",
                hint="Set PUBLIC_URL to the address users and webhook senders reach, e.g. https://changetrack.example.com.",
                id="changetrack.W001",
            )
        )
    elif parts.scheme != "https":
        out.append(
            Warning(
                "PUBLIC_URL is not https: webhook senders would send their tokens and signatures in clear.",
                hint="Serve changetrack over TLS (an Ingress or load balancer) and set PUBLIC_URL to its https:// URL.",
                id="changetrack.W002",
            )
        )
    return out
