"""``manage.py poll <connection id or name>``: poll one pull-source connection now, through the runner."""

from __future__ import annotations

import json
import uuid
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from changetrack.collect import polling
from changetrack.models import Connection, PollState


class Command(BaseCommand):
    help = (
        "Poll one connection of a pull source (GitHub, LaunchDarkly, Datadog events, Prometheus service graph, "
        "Jaeger) now and print the outcome."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("connection", help="the connection's id (UUID) or its name")

    def handle(self, *args: Any, **options: Any) -> None:
        conn = _connection(options["connection"])
        try:
            summary = polling.poll_connection(conn)
        except LookupError:
            raise CommandError(f"{conn.integration} connections are not polled (the integration has no poll)") from None
        write = self.stdout.write
        write(f"{conn.name} ({conn.integration}): {summary.outcome}")
        if summary.outcome == "polled":
            kinds = ", ".join(f"{kind} {n}" for kind, n in sorted(summary.kinds.items())) or "none"
            write(f"records: {summary.records} ({summary.created} new); by kind: {kinds}")
        row = PollState.objects.filter(connection=conn).first()
        if row is not None:
            write(f"state: {json.dumps(row.state, sort_keys=True)}")
        if summary.next_poll_at:
            write(f"next poll after: {summary.next_poll_at.isoformat()}")
        if summary.resume_after:
            write(f"rate limited until: {summary.resume_after.isoformat()}")
        for skipped in summary.skipped:
            write(f"skipped: {skipped}")
        if summary.error:
            write(f"error: {summary.error}")


def _connection(ref: str) -> Connection:
    """The connection whose id or name is ``ref``; ``CommandError`` if none or several."""
    try:
        found = list(Connection.objects.filter(pk=uuid.UUID(ref)))
    except ValueError:
        found = list(Connection.objects.filter(name=ref))
    if not found:
        raise CommandError(f"no connection with id or name {ref!r}")
    if len(found) > 1:
        raise CommandError(f"{len(found)} connections are named {ref!r}: give the id")
    return found[0]
