"""Shared infrastructure, one module per mechanism: database helpers (``db``), the Redis client (``redis``),
problem+json answers (``problems``) and the schema's column limits for the JSON-safety check (``jsonsafety``; its
rules are the pure ``integrations.jsonsafety``, which integrations can import). Everything above the models may
import these; they import nothing above ``models``."""
