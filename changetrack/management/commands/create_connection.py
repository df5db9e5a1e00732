"""Create a webhook connection from the command line; prints its URL and any generated secret once."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from changetrack import audit
from changetrack.connections import ConnectionError_, create_connection
from changetrack.infra.urls import absolute_url
from changetrack.notify import transports
from integrations import registry


class Command(BaseCommand):
    help = "Create a connection: manage.py create_connection SLUG NAME [--set field=value ...] [--base-url URL]"

    def add_arguments(self, parser):  # type: ignore[no-untyped-def]
        parser.add_argument("slug", help="integration slug, e.g. github")
        parser.add_argument("name")
        parser.add_argument(
            "--set", action="append", default=[], metavar="FIELD=VALUE", help="a config or secret field"
        )
        parser.add_argument("--base-url", default="", help="public URL of this changetrack (default: PUBLIC_URL)")
        parser.add_argument("--no-check", action="store_true", help="do not ask a destination to accept the token")

    def handle(self, *args, **opts):  # type: ignore[no-untyped-def]
        values = {}
        for item in opts["set"]:
            field, sep, value = item.partition("=")
            if not sep or not field:
                raise CommandError(f"--set expects FIELD=VALUE, got {item!r}")
            values[field.strip()] = value
        try:
            with audit.as_command("create_connection"):
                new = create_connection(opts["slug"], opts["name"], values)
        except ConnectionError_ as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(f"Connection {new.connection.name!r} ({new.connection.integration}) created.")
        path = new.connection.webhook_path
        url = f"{opts['base_url'].rstrip('/')}{path}" if opts["base_url"] else absolute_url(path)
        integration = registry.get(new.connection.integration)
        label = getattr(integration, "url_label", "Webhook URL")
        if label:
            self.stdout.write(f"{label}: {url}")
        for field, value in new.generated.items():
            self.stdout.write(f"Generated {field} (shown once, store it in the sender now): {value}")
        if getattr(integration, "pushes", False) and not opts["no_check"]:
            verdict = transports.check(new.connection.integration, new.connection.secret_store())
            if verdict:
                self.stdout.write(verdict)
