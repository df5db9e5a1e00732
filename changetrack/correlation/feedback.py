"""Recording a responder's verdict on a suspect change."""

from __future__ import annotations

from changetrack.models import Alert, Feedback


def record(alert: Alert, change_id: int, verdict: str, author: str = "") -> tuple[Feedback, bool]:
    """Store (or replace) the verdict for (alert, change). Returns (feedback, created).

    The alert's suspects are marked stale so the next read re-ranks with the verdict (a confirmed cause
    scores 1, an unrelated change drops); verdicts also weigh on similar alerts' future rankings."""
    if verdict not in Feedback.Verdict.values:
        raise ValueError(f"verdict must be one of {', '.join(Feedback.Verdict.values)}")
    fb, created = Feedback.objects.update_or_create(
        alert=alert, change_id=change_id, defaults={"verdict": verdict, "author": author[:200]}
    )
    Alert.objects.filter(pk=alert.pk).update(suspects_computed_at=None)
    alert.suspects_computed_at = None
    return fb, created
