"""Recording a responder's verdict on a suspect change."""

from __future__ import annotations

from changetrack.models import Alert, Feedback


def record(alert: Alert, change_id: int, verdict: str, author: str = "") -> tuple[Feedback, bool]:
    """Store (or replace) the verdict for (alert, change). Returns (feedback, created)."""
    if verdict not in Feedback.Verdict.values:
        raise ValueError(f"verdict must be one of {', '.join(Feedback.Verdict.values)}")
    return Feedback.objects.update_or_create(
        alert=alert, change_id=change_id, defaults={"verdict": verdict, "author": author[:200]}
    )
