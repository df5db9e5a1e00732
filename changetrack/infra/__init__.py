"""Shared infrastructure, one module per mechanism: database helpers (``db``), the Redis client (``redis``) and
problem+json answers (``problems``). The JSON-safety rules are the pure ``integrations.jsonsafety`` (integrations
use them too); the schema's column limits for records are ``changetrack.ingest.record_limits``. These modules import
nothing from ``changetrack`` (the architecture contracts in ``pyproject.toml`` check it)."""
