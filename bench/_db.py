"""A dedicated, migrated benchmark database on the same PostgreSQL server, so benchmarks never touch dev data."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

REPO = Path(__file__).resolve().parent.parent


def server_url() -> str:
    url = os.environ.get("DATABASE_URL")
    if not url:
        from changetrack import embedded

        url = embedded.postgres_url()
    return url


def with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/" + name))


def redis_url(db: int) -> str:
    """The configured (or embedded) Redis with database ``db`` selected."""
    url = os.environ.get("REDIS_URL")
    if not url:
        from changetrack import embedded

        url = embedded.redis_url()
    if url.startswith("unix://"):
        return url.split("?")[0] + f"?db={db}"
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{db}"))


def prepare(name: str = "changetrack_bench", redis_db: int = 3) -> dict[str, str]:
    """Create (if needed) and migrate database ``name``; point this process's environment at it. Returns the env."""
    import psycopg

    base = server_url()
    with psycopg.connect(base, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')
    from tests.reliability.procs import child_env

    env = child_env(with_database(base, name), redis_url(redis_db))
    subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=REPO, env=env, check=True)
    os.environ.update(env)
    os.environ.pop("CHANGETRACK_EMBEDDED", None)
    import django

    django.setup()
    return env
