"""Celery tasks of the collectors. Thin: each polls every connection of one kind."""

from __future__ import annotations

from celery import shared_task

from changetrack.collect import datadog_events


@shared_task(acks_late=True)
def poll_datadog_events() -> dict[str, int]:
    return datadog_events.poll_all()
