"""Small durable state for pollers and collectors: watermarks, checkpoints and the poll runner's state."""

from __future__ import annotations

from django.db import models


class Watermark(models.Model):
    """A named position (``github:acme/checkout-api:commits`` → ISO time, ``k8s:prod:deployments`` → RV)."""

    key = models.CharField(max_length=300, unique=True)
    value = models.TextField(blank=True, default="")
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.key}={self.value}"


class PollState(models.Model):
    """What the poll runner (``changetrack.collect.polling``) keeps per connection of a pull source.

    ``state`` is the integration's own JSON (GitHub's per-repository ``since``, LaunchDarkly's ``after``,
    Datadog's ``since``), saved after each step's records are stored. ``resume_after`` is set by a rate limit
    or an outage: nothing is asked of the source before it. ``last_error`` is empty after a clean run."""

    connection = models.OneToOneField(
        "changetrack.Connection", on_delete=models.CASCADE, primary_key=True, related_name="poll_state"
    )
    state = models.JSONField(default=dict, blank=True)
    next_poll_at = models.DateTimeField(null=True, blank=True)
    resume_after = models.DateTimeField(null=True, blank=True)
    last_run_at = models.DateTimeField(null=True, blank=True)
    last_success_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True, default="")
    last_error_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"poll state of {self.connection_id}"
