"""changetrack: one timeline of every change per service, and the changes most likely behind each alert."""

from changetrack.celery import app as celery_app

__all__ = ["celery_app"]
