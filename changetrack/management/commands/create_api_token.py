"""``manage.py create_api_token NAME --scopes read,write``: the clear token is printed once, alone on the last line."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from changetrack import audit
from changetrack.models import ApiToken
from changetrack.models.tokens import SCOPES


class Command(BaseCommand):
    help = "Create an API token and print it (only its SHA-256 is stored: copy it now)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name", help="what the token is for, e.g. 'deploy pipeline'")
        parser.add_argument(
            "--scopes", default="read", help=f"comma-separated, from: {', '.join(SCOPES)} (default: read)"
        )
        parser.add_argument("--rate-limit", type=int, default=None, help="requests per minute (default 600)")

    def handle(self, *args: Any, **options: Any) -> None:
        name = options["name"].strip()
        if not name or len(name) > 100:
            raise CommandError("NAME must be 1 to 100 characters")
        scopes = [s.strip() for s in options["scopes"].split(",") if s.strip()]
        if not scopes:
            raise CommandError(f"--scopes needs at least one of: {', '.join(SCOPES)}")
        bad = [s for s in scopes if s not in SCOPES]
        if bad:
            raise CommandError(f"unknown scope(s): {', '.join(bad)}; valid scopes are: {', '.join(SCOPES)}")
        rate = options["rate_limit"]
        if rate is not None and rate < 1:
            raise CommandError("--rate-limit must be at least 1")
        with audit.as_command("create_api_token"):
            token, clear = ApiToken.issue(name, scopes, rate_limit_per_minute=rate)
        self.stdout.write(
            f"Created token {token.name!r} (prefix {token.prefix}, scopes {', '.join(token.scopes)}, "
            f"{token.rate_limit_per_minute} requests/min). It is shown only once:"
        )
        self.stdout.write(clear)
