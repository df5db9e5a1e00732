"""Run web (gunicorn), Celery worker and Celery beat together until Ctrl-C; print the URL and login."""

from __future__ import annotations

import os
import signal
import subprocess
import time

from django.conf import settings
from django.core.management.base import BaseCommand

from changetrack import embedded, processes


def public_url(host: str, port: int) -> str:
    """``PUBLIC_URL`` when set, else the address served (what the settings' default says for ``HOST``/``PORT``)."""
    if os.environ.get("PUBLIC_URL"):
        return settings.PUBLIC_URL
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


class Command(BaseCommand):
    help = "Start web + worker + beat (the second half of `make run`)."

    def add_arguments(self, parser):  # type: ignore[no-untyped-def]
        parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
        parser.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
        parser.add_argument("--web-workers", type=int, default=int(os.environ.get("WEB_CONCURRENCY", "3")))

    def handle(self, *args, **opts):  # type: ignore[no-untyped-def]
        from django.core.management import call_command

        call_command("ensure_superuser")
        # settings exported the embedded servers' URLs (unless they come from *_FILE); the children reuse them, and
        # the address users reach follows the port served unless PUBLIC_URL says otherwise
        env = {**os.environ, "PUBLIC_URL": public_url(opts["host"], opts["port"])}
        commands = {
            "web": processes.web(opts["host"], opts["port"], opts["web_workers"]),
            "worker": processes.worker(2),
            "beat": processes.beat(str(embedded.DATA_DIR / "celerybeat-schedule")),
        }
        procs = {name: subprocess.Popen(cmd, env=env) for name, cmd in commands.items()}
        self.stdout.write(self.style.SUCCESS(f"\nchangetrack is running at {env['PUBLIC_URL']}/"))
        self.stdout.write(
            f"Log in with the credentials printed above (also in {embedded.DATA_DIR / 'admin-login.txt'})."
        )
        self.stdout.write("Press Ctrl-C to stop web, worker and beat.\n")
        stop = False

        def _stop(*_: object) -> None:
            nonlocal stop
            stop = True

        signal.signal(signal.SIGINT, _stop)
        signal.signal(signal.SIGTERM, _stop)
        try:
            while not stop:
                for name, proc in procs.items():
                    if proc.poll() is not None and not stop:  # a child killed with us is not restarted
                        self.stderr.write(f"{name} exited with {proc.returncode}; restarting it")
                        procs[name] = subprocess.Popen(commands[name], env=env)
                time.sleep(1)
        finally:
            for proc in procs.values():
                if proc.poll() is None:
                    proc.terminate()
            for proc in procs.values():
                try:
                    proc.wait(timeout=30)  # gunicorn drains for up to its graceful_timeout
                except subprocess.TimeoutExpired:
                    proc.kill()
