"""The Celery app. Tasks live in ``changetrack.*.tasks`` and take ids or batches, never one event each."""

from __future__ import annotations

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "changetrack.settings")

app = Celery("changetrack")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks(["changetrack.ingest", "changetrack.correlation", "changetrack.collect"], related_name="tasks")
