"""Which OpenID Connect subject signs in as which local user (SSO)."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class SSOIdentity(models.Model):
    """One user's identity at an OpenID Connect provider: the provider's ``iss`` and the ``sub`` claim it gives that
    person. A sign-in is matched on this pair, never on the email or username, which the person or an
    administrator of the provider can change: a changed email must not create a second user, and a reused one must
    not take over someone else's account. One identity per user; a user without one signs in with a password."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="sso_identity")
    issuer = models.TextField()
    subject = models.CharField(max_length=255)  # OpenID Connect Core §2: at most 255 ASCII characters
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["issuer", "subject"], name="sso_identity_one_user_per_subject")]

    def __str__(self) -> str:
        return f"{self.subject} at {self.issuer}"
