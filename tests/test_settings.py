"""Settings read from the environment fail fast with a clear message (``changetrack.settings``)."""

import os
import subprocess
import sys

import pytest


@pytest.mark.parametrize(
    "env, message",
    [
        ({"DATABASE_URL": "mysql://u:p@h/db"}, "DATABASE_URL must point to PostgreSQL"),
        ({"DEBUG": "maybe"}, "DEBUG must be true or false"),
        ({"WEBHOOK_MAX_BODY_BYTES": "lots"}, "WEBHOOK_MAX_BODY_BYTES must be an integer"),
        ({"REDIS_URL": "http://x"}, "REDIS_URL must start with"),
        (
            {"DATABASE_URL": "postgres://u:p@127.0.0.1:1/db", "DEBUG": "false", "SECRET_KEY": ""},
            "SECRET_KEY must be set",
        ),
    ],
)
def test_bad_settings_fail_fast_with_a_clear_message(env, message):
    full = {**os.environ, "SECRET_KEY": "k" * 50, **env}
    proc = subprocess.run([sys.executable, "manage.py", "check"], env=full, capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0
    assert message in proc.stderr
