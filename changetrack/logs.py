"""One home for log context and log formatting.

Log lines are JSON objects on stdout carrying every ``extra`` field, so ``partitions.partition.created`` says which
partition and ``ingest.kick.failed`` keeps its error. Whatever is running binds its identity here (the web request's
id, the Celery task's id and name) and ``ContextFilter`` copies it onto every record emitted meanwhile, from any
logger. ``LOG_FORMAT=text`` swaps the JSON for ``TextFormatter``'s human-readable lines during development.
"""

from __future__ import annotations

import contextvars
import logging
from collections.abc import Mapping
from types import MappingProxyType

from pythonjsonlogger.core import RESERVED_ATTRS

from changetrack.ingest.scrubbing import scrub_key
from integrations.scrub import is_credential_name, scrub_text, scrub_value

_context: contextvars.ContextVar[Mapping[str, str]] = contextvars.ContextVar(
    "changetrack_log_context", default=MappingProxyType({})
)

Token = contextvars.Token[Mapping[str, str]]


def bind(**fields: str) -> Token:
    """Add ``fields`` to every record logged in this context until ``unbind(token)``; nested binds add up."""
    return _context.set({**_context.get(), **fields})


def unbind(token: Token) -> None:
    """Restore the context ``bind`` returned ``token`` for."""
    _context.reset(token)


def current() -> Mapping[str, str]:
    """The fields bound now (the audit log reads who is acting, and from where, from here)."""
    return _context.get()


class ContextFilter(logging.Filter):
    """Copies the bound fields onto each record (a field the call passed in ``extra`` wins); never drops one."""

    def filter(self, record: logging.LogRecord) -> bool:
        for key, value in _context.get().items():
            if not hasattr(record, key):
                setattr(record, key, value)
        return True


class ScrubFilter(logging.Filter):
    """Passes the message, every ``extra`` field and a traceback's text through the one scrubber, so a credential
    that reaches a log line (a database URL in an error, a token in a vendor's answer) is its keyed hash there too.
    A field named like a credential (``token``, ``password``) is hashed whole."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            key = scrub_key()
        except Exception:  # noqa: BLE001 - settings not loaded yet (a line logged while starting): nothing to key on
            return True
        record.msg = scrub_text(record.getMessage(), key)
        record.args = None
        for name, value in list(record.__dict__.items()):
            if name not in _NOT_EXTRA:
                setattr(record, name, scrub_value(value, key, secret=is_credential_name(name)))
        if record.exc_info:
            # formatted here so the scrubbed text is what both formatters print (they use exc_text without exc_info)
            record.exc_text = scrub_text(logging.Formatter().formatException(record.exc_info), key)
            record.exc_info = None
        return True


class TextFormatter(logging.Formatter):
    """Development lines: the usual prefix and message, then the ``extra`` fields as ``key=value``."""

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        fields = " ".join(f"{k}={v!r}" for k, v in record.__dict__.items() if k not in _NOT_EXTRA)
        if not fields:
            return line
        head, newline, trace = line.partition("\n")  # keep a traceback below the fields
        return f"{head} {fields}{newline}{trace}"


_NOT_EXTRA = frozenset(RESERVED_ATTRS) | {"taskName"}  # taskName: asyncio's, a LogRecord attribute from 3.12


def logging_config(log_format: str, level: str) -> dict[str, object]:
    """The ``LOGGING`` setting: one stdout handler, JSON (``log_format="json"``) or text, with the context filter."""
    prefix = "%(asctime)s %(levelname)s %(name)s %(message)s"
    formatters: dict[str, dict[str, object]] = {
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": prefix,
            "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
        },
        "text": {"()": "changetrack.logs.TextFormatter", "format": prefix},
    }
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {
            "context": {"()": "changetrack.logs.ContextFilter"},
            "scrub": {"()": "changetrack.logs.ScrubFilter"},
        },
        "formatters": {log_format: formatters[log_format]},
        "handlers": {
            "console": {
                "class": "logging.StreamHandler",
                "stream": "ext://sys.stdout",
                "formatter": log_format,
                "filters": ["context", "scrub"],
            }
        },
        "root": {"handlers": ["console"], "level": level},
        "loggers": {"django.db.backends": {"level": "WARNING"}, "pgserver": {"level": "WARNING"}},
    }
