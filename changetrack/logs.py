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
        "filters": {"context": {"()": "changetrack.logs.ContextFilter"}},
        "formatters": {log_format: formatters[log_format]},
        "handlers": {
            "console": {
                "class": "logging.StreamHandler",
                "stream": "ext://sys.stdout",
                "formatter": log_format,
                "filters": ["context"],
            }
        },
        "root": {"handlers": ["console"], "level": level},
        "loggers": {"django.db.backends": {"level": "WARNING"}, "pgserver": {"level": "WARNING"}},
    }
