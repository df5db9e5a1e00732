"""What a person chose for how pages show things, kept on the server so it follows them to any browser."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class UserPreference(models.Model):
    class Times(models.TextChoices):
        LOCAL = "local", "the browser's time zone"
        UTC = "utc", "UTC"

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="preference")
    times = models.CharField(max_length=10, choices=Times.choices, default=Times.LOCAL)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.user_id}: times in {self.times}"
