"""``manage.py create_user NAME --role viewer [--password-stdin]``: a local account with one role, for scripts.

Without ``--password-stdin`` a password is generated and printed once, alone on the last line (it is stored only
as Django's password hash)."""

from __future__ import annotations

import secrets
import sys
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from changetrack import audit, roles


class Command(BaseCommand):
    help = "Create a local user with a role (viewer, responder, admin); prints a generated password once."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name", help="the username")
        parser.add_argument("--role", required=True, choices=roles.ROLES, help="what the user may do")
        parser.add_argument("--email", default="")
        parser.add_argument(
            "--password-stdin", action="store_true", help="read the password from standard input (first line)"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        user_model = get_user_model()
        name = options["name"].strip()
        if not name or len(name) > 150:
            raise CommandError("NAME must be 1 to 150 characters")
        if user_model.objects.filter(username=name).exists():
            raise CommandError(f"a user named {name!r} exists already")
        generated = not options["password_stdin"]
        password = secrets.token_urlsafe(18) if generated else sys.stdin.readline().rstrip("\r\n")
        if not generated:
            try:
                validate_password(password, user_model(username=name))
            except ValidationError as exc:
                raise CommandError("password refused: " + " ".join(exc.messages)) from None
        roles.ensure_roles()
        with audit.as_command("create_user"), transaction.atomic():
            user = user_model.objects.create_user(username=name, email=options["email"], password=password)
            roles.set_role(user, options["role"])
        self.stdout.write(f"Created user {name!r} with the {options['role']} role.")
        if generated:
            self.stdout.write("Password (shown only once):")
            self.stdout.write(password)
