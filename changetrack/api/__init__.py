"""The public REST API (``/api/v1/``): DRF views over the same storage and correlation code as the webhooks."""
