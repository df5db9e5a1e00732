"""Stop the embedded PostgreSQL and Redis of this checkout (data is kept in .data/)."""

from __future__ import annotations

from django.core.management.base import BaseCommand

from changetrack import embedded


class Command(BaseCommand):
    help = "Stop the embedded servers started for this checkout."

    def handle(self, *args, **opts):  # type: ignore[no-untyped-def]
        embedded.stop_redis()
        embedded.stop_postgres()
        self.stdout.write("Embedded PostgreSQL and Redis stopped.")
