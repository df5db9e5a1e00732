"""Slack's interactivity URL, ``POST /hooks/slack/<connection uuid>/``: the "Caused it" / "Unrelated" clicks.

Its own view because Slack posts a form (``payload=<json>``) and expects 200 within three seconds. The same fixed
order as the webhook receiver: unknown or disabled connection 404 → body too large 413 → signature 401 → no
readable payload 400 → store the click (without its verification token and response URL) (a repeat of one ``trigger_id`` is stored once) → enqueue → 200 with an
empty body (the message is edited by the task, with ``chat.update``).
"""

from __future__ import annotations

import json
import logging
import uuid

from django.db import IntegrityError, transaction
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from changetrack.infra.problems import problem_response
from changetrack.ingest import receiver, scrubbing
from changetrack.models import Interaction
from integrations import registry
from integrations.base import ParseError, VerificationError
from integrations.slack import interaction

logger = logging.getLogger(__name__)


@csrf_exempt
@require_POST
def receive(request: HttpRequest, connection_id: uuid.UUID) -> HttpResponse:
    found = receiver.enabled_connection("slack", connection_id)
    integration = registry.get("slack")
    if found is None or integration is None:
        return problem_response(404, "no enabled Slack connection with this URL")
    conn, secrets = found
    body = receiver.bounded_body(request)
    if isinstance(body, HttpResponse):
        return body
    try:
        integration.verify(request.headers, body, secrets)
    except VerificationError as exc:
        logger.info("notify.interaction.unverified", extra={"connection": str(conn.pk), "reason": str(exc)})
        return problem_response(401, str(exc))
    try:
        payload = interaction.payload_of(body)
        trigger = interaction.trigger_id(payload)[:255]
    except ParseError as exc:
        return problem_response(400, str(exc))
    try:
        with transaction.atomic():
            row = Interaction.objects.create(
                connection=conn,
                trigger_id=trigger,
                # Slack's own credentials are dropped; whatever else a click carries passes the one scrubber
                body=json.dumps(scrubbing.scrubbed_payload(interaction.storable(payload))),
                received_at=timezone.now(),
            )
    except IntegrityError:
        return HttpResponse(status=200)  # Slack repeated a request we already stored
    _enqueue(row.pk)
    return HttpResponse(status=200)


def _enqueue(interaction_id: int) -> None:
    from changetrack.notify.tasks import process_interaction

    try:
        process_interaction.apply_async(args=[interaction_id], retry=False)
    except Exception as exc:  # noqa: BLE001 - broker down: stored; the sweep enqueues it
        logger.warning("notify.interaction.enqueue_failed", extra={"interaction": interaction_id, "error": repr(exc)})
