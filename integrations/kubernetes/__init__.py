"""Kubernetes: objects → normalised state, semantic diffs, classification, health signals, dependency hints.

Pure translation (no ORM, no Celery, no network). The runtime that lists and watches clusters lives in
``changetrack.collect.kubernetes``; storage in ``changetrack.collect.tasks``.
"""

SOURCE = "kubernetes"
