"""Create the coming days' partitions and drop those past retention (Celery beat runs this hourly)."""

from __future__ import annotations

from django.core.management.base import BaseCommand

from changetrack import partitions


class Command(BaseCommand):
    help = "Create upcoming daily partitions and drop expired ones."

    def handle(self, *args, **opts):  # type: ignore[no-untyped-def]
        for table, report in partitions.maintain().items():
            self.stdout.write(f"{table}: created {len(report['created'])}, dropped {len(report['dropped'])}")
