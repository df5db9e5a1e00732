"""Celery discovers ``integrations.tasks``; each integration with background work registers its tasks here."""

from integrations.github import tasks as github_tasks  # noqa: F401
from integrations.launchdarkly import tasks as launchdarkly_tasks  # noqa: F401
