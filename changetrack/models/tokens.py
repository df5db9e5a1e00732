"""API tokens: only a SHA-256 of the token is stored; the clear token is shown once, at creation."""

from __future__ import annotations

import hashlib
import secrets

from django.db import models

SCOPES = ("read", "write", "admin")
TOKEN_PREFIX = "ct_"


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class ApiToken(models.Model):
    """A bearer token with scopes. ``prefix`` (first characters) lets people recognise a token in the UI."""

    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=12)
    key_hash = models.CharField(max_length=64, unique=True)
    scopes = models.JSONField(default=list)
    rate_limit_per_minute = models.PositiveIntegerField(default=600)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @classmethod
    def issue(cls, name: str, scopes: list[str], rate_limit_per_minute: int | None = None) -> tuple[ApiToken, str]:
        """Create a token; returns the row and the clear token, which is not stored anywhere."""
        bad = [s for s in scopes if s not in SCOPES]
        if bad:
            raise ValueError(f"unknown scope(s): {', '.join(bad)}; valid: {', '.join(SCOPES)}")
        clear = TOKEN_PREFIX + secrets.token_urlsafe(32)
        token = cls.objects.create(
            name=name,
            prefix=clear[:10],
            key_hash=hash_token(clear),
            scopes=sorted(set(scopes)),
            **({"rate_limit_per_minute": rate_limit_per_minute} if rate_limit_per_minute else {}),
        )
        return token, clear

    @property
    def active(self) -> bool:
        return self.revoked_at is None
