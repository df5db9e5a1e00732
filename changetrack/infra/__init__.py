"""Shared infrastructure, one module per mechanism: database helpers, the Redis client, problem+json bodies and
the JSON-safety check. Everything above the models may import these; they import nothing above ``models``."""
