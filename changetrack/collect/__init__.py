"""Collectors: pollers that pull records from vendor APIs on a Celery beat schedule and store them."""
