"""Building the image and running it on a machine without a container daemon: ``deploy/image/base.sh`` makes the
base with debootstrap, ``make image`` builds with ``podman build --isolation=chroot``, ``buildah run
--isolation=chroot`` starts a role (no cgroups needed, the host's network). A relay gives the container's
unprivileged user TCP ports for the test PostgreSQL and Redis, whose unix sockets sit in private directories."""

from __future__ import annotations

import hashlib
import os
import shutil
import socket
import socketserver
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from tests.deploy.manifests import ROOT

TOOLS = ("podman", "buildah", "debootstrap")
# one tag per checkout: two checkouts testing at once must not run each other's image
IMAGE = "localhost/changetrack:test-" + hashlib.sha256(str(ROOT).encode()).hexdigest()[:12]
BASE = "localhost/changetrack-base:bookworm"


def require_tools() -> None:
    if os.geteuid() != 0:
        pytest.skip("SKIPPED LOUDLY: debootstrap and podman's chroot isolation need root; the image is not built")
    missing = [tool for tool in TOOLS if shutil.which(tool) is None]
    if missing:
        pytest.skip(
            f"SKIPPED LOUDLY: {', '.join(missing)} not installed, so the container image is neither built nor "
            "run; `make image-deps` (part of `make test`) installs them with apt-get"
        )


def build() -> None:
    """The base (cached between runs under ~/.cache/changetrack), then ``make image`` from it."""
    base = subprocess.run([str(ROOT / "deploy" / "image" / "base.sh"), BASE], capture_output=True, text=True)
    assert base.returncode == 0, base.stderr
    made = subprocess.run(
        ["make", "--no-print-directory", "image", f"IMAGE={IMAGE}", f"BASE={BASE}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert made.returncode == 0, made.stdout[-4000:] + made.stderr[-4000:]


@contextmanager
def working_container() -> Iterator[str]:
    name = subprocess.run(["buildah", "from", IMAGE], capture_output=True, text=True, check=True).stdout.strip()
    try:
        yield name
    finally:
        subprocess.run(["buildah", "rm", name], capture_output=True, check=False)


def run_argv(container: str, env: dict[str, str], argv: list[str], volumes: dict[str, str] | None = None) -> list[str]:
    """``buildah run`` of ``argv`` as uid 10001 with exactly ``env`` added, /tmp a fresh tmpfs (the pod's emptyDir)
    and ``volumes`` (host path → container path) mounted read-only."""
    cmd = ["buildah", "run", "--isolation=chroot", "--user", "10001:10001", "--mount", "type=tmpfs,destination=/tmp"]
    for source, target in (volumes or {}).items():
        cmd += ["--volume", f"{source}:{target}:ro"]
    for name, value in env.items():
        cmd += ["--env", f"{name}={value}"]
    return [*cmd, container, "--", *argv]


def written_since(container: str, started_at: float) -> set[str]:
    """Files of the container's root filesystem changed since ``started_at`` (its /tmp is a tmpfs, not in it)."""
    mounted = subprocess.run(["buildah", "mount", container], capture_output=True, text=True, check=True)
    root = mounted.stdout.strip()
    try:
        changed = subprocess.run(
            ["find", root, "-xdev", "-newermt", f"@{int(started_at)}", "-not", "-type", "d"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()
    finally:
        subprocess.run(["buildah", "umount", container], capture_output=True, check=False)
    return {path.removeprefix(root) for path in changed} - {"/run/.containerenv"}  # buildah's own marker


# --- reaching the test servers -----------------------------------------------------------------------------


def _pipe(src: socket.socket, dst: socket.socket) -> None:
    try:
        while data := src.recv(65536):
            dst.sendall(data)
    except OSError:
        pass  # the other side closed: the relay of this connection is over
    finally:
        for sock in (src, dst):
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass  # already shut


class _Relay(socketserver.BaseRequestHandler):
    server: UnixRelay

    def handle(self) -> None:
        upstream = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        upstream.connect(self.server.target)
        back = threading.Thread(target=_pipe, args=(upstream, self.request), daemon=True)
        back.start()
        _pipe(self.request, upstream)
        back.join(10)
        upstream.close()


class UnixRelay(socketserver.ThreadingTCPServer):
    """127.0.0.1:<port> relayed to a unix socket, for as long as the ``with`` block lasts."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, target: str):
        self.target = target
        super().__init__(("127.0.0.1", 0), _Relay)

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    def __enter__(self) -> UnixRelay:
        threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()
        self.server_close()


@contextmanager
def service_urls() -> Iterator[tuple[str, str]]:
    """DATABASE_URL and REDIS_URL of the test servers as a container sees them (TCP on the host's loopback)."""
    from django.conf import settings
    from django.db import connection

    db = connection.settings_dict  # the test database once pytest-django has made it
    socket_dir = db.get("HOST") or db["OPTIONS"].get("host", "")
    redis_url = settings.REDIS_URL
    relays: list[UnixRelay] = []
    try:
        host, port = db.get("HOST") or "127.0.0.1", str(db.get("PORT") or 5432)
        if socket_dir.startswith("/"):
            relays.append(UnixRelay(os.path.join(socket_dir, f".s.PGSQL.{port}")).__enter__())
            host, port = "127.0.0.1", str(relays[-1].port)
        auth = quote(db["USER"]) + (":" + quote(db["PASSWORD"]) if db.get("PASSWORD") else "")
        database_url = f"postgres://{auth}@{host}:{port}/{quote(db['NAME'])}"
        if redis_url.startswith("unix://"):
            path, _, query = redis_url.removeprefix("unix://").partition("?")
            relays.append(UnixRelay(path).__enter__())
            number = query.removeprefix("db=") if query.startswith("db=") else "0"
            redis_url = f"redis://127.0.0.1:{relays[-1].port}/{number}"
        yield database_url, redis_url
    finally:
        for relay in relays:
            relay.__exit__()


# a Redis database of the image's roles' own: nothing they queue reaches the test workers (tests use 1, `make run` 0)
IMAGE_REDIS_DB = 15


def image_redis_url(redis_url: str) -> str:
    return redis_url.rsplit("/", 1)[0] + f"/{IMAGE_REDIS_DB}"


@contextmanager
def image_redis() -> Iterator[Any]:
    """A client of the roles' Redis database, emptied when the block ends."""
    import redis

    from changetrack.infra import redis as shared_redis

    pool = shared_redis.client().connection_pool
    own = redis.ConnectionPool(
        connection_class=pool.connection_class, **{**pool.connection_kwargs, "db": IMAGE_REDIS_DB}
    )
    try:
        yield redis.Redis(connection_pool=own)
    finally:
        redis.Redis(connection_pool=own).flushdb()
        own.disconnect()


def uids_of(marker: str) -> set[int]:
    """The real, effective, saved and filesystem uids of every host process whose command line holds ``marker``."""
    uids: set[int] = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if marker not in (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace"):
                continue
            status = (entry / "status").read_text()
        except OSError:
            continue  # gone meanwhile
        uid_line = next(line for line in status.splitlines() if line.startswith("Uid:"))
        uids.update(int(u) for u in uid_line.split()[1:])
    return uids
