"""Stored results of the correlation engine and the feedback that teaches it."""

from __future__ import annotations

from django.db import models


class Suspect(models.Model):
    """One ranked suspect change for an alert, as last computed. Replaced wholesale on recomputation."""

    alert = models.ForeignKey("changetrack.Alert", on_delete=models.CASCADE, related_name="suspects")
    change = models.ForeignKey("changetrack.Change", on_delete=models.DO_NOTHING, db_constraint=False, related_name="+")
    rank = models.PositiveIntegerField()
    score = models.FloatField()
    hops = models.PositiveSmallIntegerField(default=0)
    #: how the changed service relates to the alerting one (``correlation.graph``): self, down (a dependency of
    #: it), up (depends on it), mixed, none (no known edge: same team or namespace); "" for rows stored before
    relation = models.CharField(max_length=8, blank=True, default="")
    path = models.JSONField(default=list)
    components = models.JSONField(default=dict)
    reasons = models.JSONField(default=list)
    computed_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["alert", "rank"]
        constraints = [models.UniqueConstraint(fields=["alert", "rank"], name="suspect_rank_unique")]

    def __str__(self) -> str:
        return f"#{self.rank} change {self.change_id} for alert {self.alert_id} ({self.score:.2f})"


class Feedback(models.Model):
    """A responder's verdict on one suspect: it ``caused`` the alert, or it is ``unrelated``."""

    class Verdict(models.TextChoices):
        CAUSED = "caused"
        UNRELATED = "unrelated"

    alert = models.ForeignKey("changetrack.Alert", on_delete=models.CASCADE, related_name="feedback")
    change = models.ForeignKey("changetrack.Change", on_delete=models.DO_NOTHING, db_constraint=False, related_name="+")
    verdict = models.CharField(max_length=20, choices=Verdict.choices)
    author = models.CharField(max_length=200, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name_plural = "feedback"
        constraints = [models.UniqueConstraint(fields=["alert", "change"], name="feedback_unique")]

    def __str__(self) -> str:
        return f"{self.verdict}: change {self.change_id} for alert {self.alert_id}"


class VerdictEvent(models.Model):
    """Every verdict set and every undo, who and when: the history behind ``Feedback`` (which holds only the
    current verdict, the one the engine learns from). Never changed or removed; an undo is a row of its own."""

    class Action(models.TextChoices):
        SET = "set"
        UNDO = "undo"

    alert = models.ForeignKey("changetrack.Alert", on_delete=models.CASCADE, related_name="verdict_events")
    change = models.ForeignKey("changetrack.Change", on_delete=models.DO_NOTHING, db_constraint=False, related_name="+")
    action = models.CharField(max_length=10, choices=Action.choices)
    #: the verdict set, or the one undone
    verdict = models.CharField(max_length=20)
    actor = models.CharField(max_length=200, blank=True, default="")
    at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [
            models.Index(fields=["alert", "change", "-at"], name="verdict_event_alert"),
            models.Index(fields=["change", "-at"], name="verdict_event_change"),
        ]

    def __str__(self) -> str:
        return (
            f"{self.actor or 'someone'} {self.action} {self.verdict}: change {self.change_id} for alert {self.alert_id}"
        )
