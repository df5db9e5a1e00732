"""Create the first admin account if none exists and print its login (kept in .data/admin-login.txt)."""

from __future__ import annotations

import os
import secrets

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

from changetrack import embedded, roles


class Command(BaseCommand):
    help = "Create the admin user once; print the login."

    def handle(self, *args, **opts):  # type: ignore[no-untyped-def]
        User = get_user_model()
        login_file = embedded.DATA_DIR / "admin-login.txt"
        username = os.environ.get("CHANGETRACK_ADMIN_USER", "admin")
        if not User.objects.filter(username=username).exists():
            password = settings.CHANGETRACK_ADMIN_PASSWORD or secrets.token_urlsafe(12)
            user = User.objects.create_superuser(username=username, email="", password=password)
            roles.set_role(user, roles.ADMIN)  # a superuser may do anything; the group says so where roles are shown
            embedded.DATA_DIR.mkdir(parents=True, exist_ok=True)
            login_file.write_text(f"username: {username}\npassword: {password}\n")
            login_file.chmod(0o600)
        if login_file.exists():
            self.stdout.write("Login:\n" + login_file.read_text())
        else:
            self.stdout.write(f"Login: user {username!r} already existed; its password was set outside changetrack.")
