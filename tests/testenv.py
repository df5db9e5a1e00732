"""Loaded as a pytest plugin (``-p tests.testenv`` in pyproject.toml), before pytest-django reads the settings.

Tests use Redis database 1 so that a ``make run`` or a benchmark in the same checkout (database 0) never has its
queue flushed or its tasks taken by a test worker. A conftest would be too late: pytest-django imports the settings,
which fill in ``REDIS_URL`` for database 0, before any conftest runs.
"""

from __future__ import annotations

import os

if not os.environ.get("REDIS_URL"):
    from changetrack import embedded

    os.environ["REDIS_URL"] = embedded.redis_url() + "?db=1"

EXTERNAL_REDIS = "?db=1" not in os.environ["REDIS_URL"]  # a REDIS_URL given from outside is used as given

# The session's SECRET_KEY, random and not a development key: child processes run with DEBUG off (pollers, the
# collector, gunicorn in the reliability tests) refuse a development key, and some must share this one to read
# the connection secrets the tests stored.
if not os.environ.get("SECRET_KEY"):
    import secrets

    os.environ["SECRET_KEY"] = "test-session-" + secrets.token_urlsafe(48)
