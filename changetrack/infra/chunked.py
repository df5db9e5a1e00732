"""Request bodies sent with ``Transfer-Encoding: chunked`` (no ``Content-Length``), as many HTTP clients and
proxies send them.

gunicorn de-chunks the body into ``wsgi.input``, but Django reads exactly ``CONTENT_LENGTH`` bytes of it and a
chunked request has none, so ``request.body`` was empty and every such webhook or API call was a 400. This WSGI
wrapper reads the de-chunked body (at most one byte past the largest body any endpoint accepts, so an oversized
one still gets its 413 from the endpoint and is never held whole in memory) and hands Django a request with the
length set.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable
from typing import Any

from django.conf import settings

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def _largest_body() -> int:
    return max(settings.WEBHOOK_MAX_BODY_BYTES, settings.API_MAX_BODY_BYTES, settings.DATA_UPLOAD_MAX_MEMORY_SIZE or 0)


def dechunk(environ: dict[str, Any]) -> None:
    """Give a chunked request a ``CONTENT_LENGTH`` and a ``wsgi.input`` holding its body (in place)."""
    if "chunked" not in environ.get("HTTP_TRANSFER_ENCODING", "").lower() or environ.get("CONTENT_LENGTH"):
        return
    stream = environ["wsgi.input"]
    wanted = _largest_body() + 1
    parts: list[bytes] = []
    size = 0
    while size < wanted:
        part = stream.read(min(65536, wanted - size))
        if not part:
            break
        parts.append(part)
        size += len(part)
    environ["wsgi.input"] = io.BytesIO(b"".join(parts))
    environ["CONTENT_LENGTH"] = str(size)


def read_chunked_bodies(app: WSGIApp) -> WSGIApp:
    """``app`` with chunked request bodies readable by Django (see the module docstring)."""

    def wrapped(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        dechunk(environ)
        return app(environ, start_response)

    return wrapped
