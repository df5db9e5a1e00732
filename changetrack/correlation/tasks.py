"""Celery tasks of the correlation engine: alert ids in, stored suspects out."""

from __future__ import annotations

from celery import shared_task

from changetrack.correlation import engine


@shared_task(acks_late=True)
def rank_alerts(alert_ids: list[int]) -> int:
    for alert_id in alert_ids:
        engine.rank_and_store(alert_id)
    return len(alert_ids)
