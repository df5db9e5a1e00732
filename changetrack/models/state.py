"""Small durable state for pollers and collectors: watermarks and checkpoints."""

from __future__ import annotations

from django.db import models


class Watermark(models.Model):
    """A named position (``github:acme/checkout-api:commits`` → ISO time, ``k8s:prod:deployments`` → RV)."""

    key = models.CharField(max_length=300, unique=True)
    value = models.TextField(blank=True, default="")
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.key}={self.value}"
