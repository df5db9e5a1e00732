"""What storage announces to the layers above it (push destinations listen), without importing them."""

from __future__ import annotations

from django.dispatch import Signal

#: sent after a batch of changes was stored, created or updated (keyword ``change_ids``), inside the storing
#: transaction: receivers only enqueue work after the commit (``transaction.on_commit``), never do it. Sent with
#: ``send_robust``: a receiver's error never fails ingestion
changes_stored = Signal()
