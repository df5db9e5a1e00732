"""What storage announces to the layers above it (push destinations listen), without importing them."""

from __future__ import annotations

from django.dispatch import Signal

#: sent after a batch of changes was stored, created or updated (keyword ``change_ids``), inside the storing
#: transaction: a receiver may write its own outbox rows there (in a savepoint, so its failure is undone alone) and
#: enqueues work after the commit (``transaction.on_commit``), never does it. Sent with ``send_robust``: a
#: receiver's error never fails ingestion
changes_stored = Signal()
