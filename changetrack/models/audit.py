"""The audit log: who created, changed or deleted a piece of configuration or a verdict, when, and from where."""

from __future__ import annotations

from typing import Any, NoReturn

from django.db import models


class AppendOnly(Exception):
    """Raised on any attempt to change or remove an audit entry from the application."""


class AuditEntryQuerySet(models.QuerySet["AuditEntry"]):
    def update(self, **kwargs: Any) -> NoReturn:
        raise AppendOnly("audit entries are never changed")

    def delete(self) -> NoReturn:  # type: ignore[override]
        raise AppendOnly("audit entries are never deleted")


class AuditEntry(models.Model):
    """One audited act. Written only by ``changetrack.audit`` and never changed afterwards: ``save()`` of a stored
    entry, ``delete()`` and queryset ``update()``/``delete()`` raise ``AppendOnly``, and a database trigger (migration
    0007) refuses UPDATE and DELETE from anything else.

    ``actor`` names who acted (``user:<username>``, ``token:<name> (<prefix>…)``, ``command:<name>``, ``system``);
    ``source`` where from (``ui``, ``admin``, ``api``, ``command``, ``webhook``, ``system``); ``changes`` maps a field to
    ``[before, after]``, with secret fields only marked as changed, never their values."""

    class Action(models.TextChoices):
        CREATE = "create"
        CHANGE = "change"
        DELETE = "delete"

    at = models.DateTimeField(auto_now_add=True, db_index=True)
    actor = models.CharField(max_length=200)
    source = models.CharField(max_length=20)
    ip = models.GenericIPAddressField(null=True, blank=True)
    request_id = models.CharField(max_length=128, blank=True, default="")
    action = models.CharField(max_length=10, choices=Action.choices)
    object_type = models.CharField(max_length=100)
    object_id = models.CharField(max_length=64)
    object_repr = models.CharField(max_length=200)
    changes = models.JSONField(default=dict, blank=True)

    objects = AuditEntryQuerySet.as_manager()

    class Meta:
        ordering = ["-at", "-id"]
        verbose_name_plural = "audit entries"
        indexes = [models.Index(fields=["object_type", "object_id"], name="audit_object")]

    def __str__(self) -> str:
        return f"{self.actor} {self.action} {self.object_type} {self.object_repr}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.pk is not None:
            raise AppendOnly("audit entries are never changed")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise AppendOnly("audit entries are never deleted")
