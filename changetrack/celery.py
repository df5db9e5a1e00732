"""The Celery app. Tasks live in ``changetrack.*.tasks`` and take ids or batches, never one event each."""

from __future__ import annotations

import logging.config
import os
from typing import Any

from celery import Celery, signals

from changetrack import logs

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "changetrack.settings")

app = Celery("changetrack")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks(
    ["changetrack.ingest", "changetrack.correlation", "changetrack.collect", "changetrack.notify"], related_name="tasks"
)


@signals.setup_logging.connect
def _keep_our_logging(loglevel: int | str | None = None, **_: Any) -> None:
    """Worker and beat log through ``settings.LOGGING`` (JSON lines, the context filter) instead of Celery's own
    root handler and stdout redirection; ``--loglevel`` still sets the level, as it did before."""
    from django.conf import settings

    logging.config.dictConfig(settings.LOGGING)
    if loglevel:
        logging.getLogger().setLevel(loglevel)


_task_tokens: dict[str, logs.Token] = {}


@signals.task_prerun.connect
def _bind_task(task_id: str, task: Any, **_: Any) -> None:
    """Every record a task emits carries its id and name (on top of a request id when run eagerly in a request)."""
    _task_tokens[task_id] = logs.bind(task_id=task_id, task_name=task.name)


@signals.task_postrun.connect
def _unbind_task(task_id: str, **_: Any) -> None:
    token = _task_tokens.pop(task_id, None)
    if token is not None:
        logs.unbind(token)
