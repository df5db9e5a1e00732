"""The command line of every role one changetrack install runs, in one place for ``manage.py serve`` (all three
long-running roles together on a laptop) and for the container image (one role per container).

The image's entry point is ``python -m changetrack.processes ROLE [ARGS...]``:

- ``web``: gunicorn on ``0.0.0.0:$PORT`` (8000) with ``$WEB_CONCURRENCY`` (3) workers;
- ``worker``: a Celery worker with ``$WORKER_CONCURRENCY`` (2) processes;
- ``beat``: Celery beat, its schedule file under ``$CHANGETRACK_DATA_DIR`` (the image sets ``/tmp/changetrack``);
- anything else is a ``manage.py`` command: ``migrate --noinput``, ``collect_kubernetes --in-cluster ...``.

Each role replaces this process (``exec``), so the orchestrator's SIGTERM reaches gunicorn or Celery directly and
they drain the way they do on their own. Nothing here imports Django: a role starts as fast as its server does.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path


def _bin(name: str) -> str:
    """A console script of the interpreter running us (the checkout's .venv, or the image's /opt/venv)."""
    return str(Path(sys.executable).parent / name)


def web(host: str, port: int, workers: int) -> list[str]:
    return [
        _bin("gunicorn"),
        "changetrack.wsgi:application",
        "--bind",
        f"{host}:{port}",
        "--workers",
        str(workers),
        "--config",  # threads, timeouts, the graceful stop on SIGTERM and the access log format
        str(Path(__file__).resolve().parent.parent / "gunicorn.conf.py"),
        "--worker-tmp-dir",  # the heartbeat files; /tmp is the one writable place in the image
        os.environ.get("TMPDIR", "/tmp"),  # noqa: S108 - gunicorn's own default, named so it is never the root fs
    ]


def worker(concurrency: int) -> list[str]:
    return [_bin("celery"), "-A", "changetrack", "worker", "--loglevel", "INFO", "--concurrency", str(concurrency)]


def beat(schedule: str) -> list[str]:
    return [_bin("celery"), "-A", "changetrack", "beat", "--loglevel", "INFO", "--schedule", schedule]


def data_dir() -> Path:
    """Where beat keeps its schedule; the same default as ``changetrack.embedded.DATA_DIR`` without importing it."""
    return Path(os.environ.get("CHANGETRACK_DATA_DIR", Path(__file__).resolve().parent.parent / ".data"))


def command(role: str, args: list[str]) -> list[str]:
    """The argv that runs ``role`` in a container (``args`` are appended, or are the manage.py arguments)."""
    if role == "web":
        port = int(os.environ.get("PORT", "8000"))
        return web(os.environ.get("HOST", "0.0.0.0"), port, int(os.environ.get("WEB_CONCURRENCY", "3"))) + args  # noqa: S104 - a container's port is only reachable through its Service
    if role == "worker":
        return worker(int(os.environ.get("WORKER_CONCURRENCY", "2"))) + args
    if role == "beat":
        directory = data_dir()
        directory.mkdir(parents=True, exist_ok=True)
        return beat(str(directory / "celerybeat-schedule")) + args
    return [sys.executable, str(Path(__file__).resolve().parent.parent / "manage.py"), role, *args]


def main(argv: list[str]) -> None:
    if not argv:
        sys.exit("usage: python -m changetrack.processes web|worker|beat|<manage.py command> [ARGS...]")
    cmd = command(argv[0], argv[1:])
    os.execv(cmd[0], cmd)  # noqa: S606 - a fixed program of our own venv, no shell


if __name__ == "__main__":
    main(sys.argv[1:])
