"""Collectors: long-running readers of pull sources (Kubernetes watch) that hand batches to Celery."""
