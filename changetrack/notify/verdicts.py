"""A Slack click becomes a verdict, recorded as the Slack user, through the same ``feedback.record`` as the web
form; the alert is then re-ranked, which edits its messages (``changetrack.notify.hooks``)."""

from __future__ import annotations

import json
import logging

from django.db import transaction
from django.utils import timezone

from changetrack.correlation import engine, feedback
from changetrack.models import Alert, Change, Interaction
from integrations.base import ParseError, UnsupportedEvent
from integrations.slack import interaction

logger = logging.getLogger(__name__)


def author(click: interaction.VerdictClick) -> str:
    """How the verdict's author is shown: "@name" (Slack's user id when the payload gave no name)."""
    return f"@{click.user_name or click.user_id}"


def apply(interaction_id: int) -> str:
    """Process one pending interaction; returns its new status. A click already processed does nothing."""
    with transaction.atomic():
        row = Interaction.objects.select_for_update().filter(pk=interaction_id).first()
        if row is None or row.status != Interaction.Status.PENDING:
            return "done"
        try:
            click = interaction.parse(json.loads(row.body))
            alert = Alert.objects.filter(pk=click.alert_id).first()
            if alert is None or not Change.objects.filter(pk=click.change_id).exists():
                raise ParseError("the alert or change of this button no longer exists")
        except UnsupportedEvent as exc:
            return _finish(row, Interaction.Status.IGNORED, str(exc))
        except ParseError as exc:
            return _finish(row, Interaction.Status.FAILED, str(exc))
        feedback.record(alert, click.change_id, click.verdict, author=author(click))
        _finish(row, Interaction.Status.PROCESSED, "")
    logger.info(
        "notify.verdict.recorded", extra={"alert": click.alert_id, "change": click.change_id, "verdict": click.verdict}
    )
    engine.rank_and_store(click.alert_id)  # the verdict moves the ranking; the re-ranking edits the messages
    return Interaction.Status.PROCESSED


def _finish(row: Interaction, status: str, error: str) -> str:
    row.status, row.error, row.processed_at = status, error[:2000], timezone.now()
    row.save(update_fields=["status", "error", "processed_at"])
    return status
