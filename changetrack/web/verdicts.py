"""Responders' verdicts on suspects: the undo (recorded, never erased) and who said what, when.

``Feedback`` holds the current verdict of an (alert, change) pair, the one the engine learns from; every verdict
set (``changetrack.signals``) and every undo is a ``VerdictEvent``, so the history survives an undo."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db import transaction

from changetrack.models import Alert, Feedback, VerdictEvent


@dataclass(frozen=True)
class Marked:
    verdict: str
    actor: str
    at: datetime | None


def undo(alert: Alert, change_id: int, actor: str) -> bool:
    """Remove the current verdict on ``change_id`` for ``alert`` and record who undid it. The alert's suspects are
    marked stale so the next read ranks without the verdict. False when there was no verdict to undo."""
    with transaction.atomic():
        current = Feedback.objects.select_for_update().filter(alert=alert, change_id=change_id).first()
        if current is None:
            return False
        VerdictEvent.objects.create(
            alert=alert, change_id=change_id, action=VerdictEvent.Action.UNDO, verdict=current.verdict, actor=actor
        )
        current.delete()
        Alert.objects.filter(pk=alert.pk).update(suspects_computed_at=None)
    return True


def current(alert: Alert, change_ids: list[int]) -> dict[int, Marked]:
    """The current verdict of each change that has one, with who set it and when (the newest "set" event; a
    verdict older than the history falls back to the verdict's own author and time)."""
    verdicts = {f.change_id: f for f in Feedback.objects.filter(alert=alert, change_id__in=change_ids)}
    newest: dict[int, VerdictEvent] = {}
    for seen in VerdictEvent.objects.filter(
        alert=alert, change_id__in=list(verdicts), action=VerdictEvent.Action.SET
    ).order_by("change_id", "-at", "-id"):
        newest.setdefault(seen.change_id, seen)
    out = {}
    for change_id, fb in verdicts.items():
        event = newest.get(change_id)
        if event is not None and event.verdict == fb.verdict:
            out[change_id] = Marked(fb.verdict, event.actor, event.at)
        else:
            out[change_id] = Marked(fb.verdict, fb.author, fb.created_at)
    return out


def history_of_change(change_id: int, limit: int = 50) -> list[VerdictEvent]:
    """Every verdict and undo on this change, newest first, with its alert."""
    return list(VerdictEvent.objects.filter(change_id=change_id).select_related("alert")[:limit])
