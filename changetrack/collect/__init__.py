"""Collectors: pollers that pull records from vendor APIs on a Celery beat schedule, and long-running
readers of pull sources (the Kubernetes watch) that hand batches to Celery."""
