"""Celery tasks of the correlation engine: alert ids in, stored suspects out; periodic edge learning."""

from __future__ import annotations

from celery import shared_task

from changetrack.correlation import engine, learning


@shared_task(acks_late=True)
def rank_alerts(alert_ids: list[int]) -> int:
    for alert_id in alert_ids:
        engine.rank_and_store(alert_id)
    return len(alert_ids)


@shared_task(acks_late=True)
def learn_dependencies() -> int:
    """Beat entry ``learn-dependencies``: upsert learned edges from the last 30 days."""
    return len(learning.learn_edges())
