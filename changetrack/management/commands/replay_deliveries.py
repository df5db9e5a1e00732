"""Re-process stored deliveries: failed ones by default, or any selection by id, connection or time."""

from __future__ import annotations

from datetime import timedelta

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from changetrack.ingest import pipeline
from changetrack.models import Delivery


class Command(BaseCommand):
    help = "Mark deliveries pending again and process them now (or leave them to the workers with --enqueue)."

    def add_arguments(self, parser):  # type: ignore[no-untyped-def]
        parser.add_argument("--id", type=int, action="append", dest="ids", help="delivery id (repeatable)")
        parser.add_argument("--status", default="failed", choices=["failed", "ignored", "processed", "any"])
        parser.add_argument("--connection", help="connection UUID")
        parser.add_argument("--hours", type=float, default=24 * 14, help="only deliveries received in the last N hours")
        parser.add_argument("--enqueue", action="store_true", help="let the Celery workers process them")

    def handle(self, *args, **opts):  # type: ignore[no-untyped-def]
        qs = Delivery.objects.filter(received_at__gte=timezone.now() - timedelta(hours=opts["hours"]))
        if opts["ids"]:
            qs = qs.filter(pk__in=opts["ids"])
        elif opts["status"] != "any":
            qs = qs.filter(status=opts["status"])
        if opts["connection"]:
            try:
                qs = qs.filter(connection_id=opts["connection"])
                qs.exists()
            except Exception:  # noqa: BLE001 - a malformed UUID
                raise CommandError(f"--connection {opts['connection']!r} is not a connection UUID") from None
        count = qs.update(status=Delivery.Status.PENDING, error="")
        if count == 0:
            self.stdout.write("No deliveries matched.")
            return
        if opts["enqueue"]:
            from changetrack.ingest.tasks import drain_deliveries

            drain_deliveries.delay()
            self.stdout.write(f"{count} deliveries marked pending; the workers will process them.")
            return
        out = pipeline.drain()
        self.stdout.write(
            f"{count} deliveries replayed: {out.processed} processed, {out.failed} failed, {out.ignored} ignored."
        )
