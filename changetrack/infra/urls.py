"""Absolute URLs for what leaves the app (webhook URLs printed by commands, links in messages): built from
``settings.PUBLIC_URL``, the address users reach, not from whatever ``Host`` a request carried."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest


def absolute_url(path: str) -> str:
    """``PUBLIC_URL`` joined with ``path`` (which starts with ``/``, as ``reverse()`` returns it)."""
    return f"{settings.PUBLIC_URL}/{path.lstrip('/')}"


def absolute_url_of(request: HttpRequest) -> str:
    """The URL ``request`` asked for (path and query) under ``PUBLIC_URL``: the base of pagination links."""
    return absolute_url(request.get_full_path())
