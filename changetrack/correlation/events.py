"""What the correlation engine announces to the layers above it (push destinations listen), without importing them."""

from __future__ import annotations

from django.dispatch import Signal

#: sent after an alert's suspects were stored (keyword ``alert_id``). Sent with ``send_robust``: a receiver's
#: error never fails a ranking, so receivers must only enqueue work, never do it
suspects_stored = Signal()
