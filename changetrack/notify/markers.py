"""Changes pushed to Grafana as annotations, through the outbound sender's machinery (the Celery tasks
``annotate`` and ``push_annotation`` in ``changetrack.notify.tasks``: retries with backoff, ``Retry-After``, the
last error kept by ``sender.keep_failure`` and shown on the connection page).

One ``Annotation`` row per (connection, change) is the idempotency key: the first send POSTs and keeps the id
Grafana answers, every later one PATCHes that id (never a second annotation), and an unchanged change sends
nothing (its digest). A Grafana outage or a refused token fails only these tasks: ingestion only enqueued them.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from typing import Any

import requests
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from changetrack.infra.urls import absolute_url
from changetrack.models import Annotation, Change, Connection
from changetrack.models.deliveries import SecretStore
from changetrack.notify import status as push_status
from changetrack.notify.status import PushStatus
from changetrack.notify.transports import TIMEOUT_SECONDS, SendError, retry_after
from integrations import registry
from integrations.destination import ChangeNotice
from integrations.grafana import annotating as grafana

logger = logging.getLogger(__name__)

CACHE_SECONDS = 5.0
_cache: dict[str, tuple[float, list[Connection]]] = {}


def annotating_slugs() -> list[str]:
    """Destinations that mark changes rather than announce alerts (Grafana annotations)."""
    return sorted(
        slug
        for slug, i in registry.INTEGRATIONS.items()
        if getattr(i, "pushes", False) and not getattr(i, "notices", True)
    )


def connections() -> list[Connection]:
    """The enabled annotating connections (cached a few seconds: asked for every stored batch of changes)."""
    now = time.monotonic()
    hit = _cache.get("all")
    if hit and hit[0] > now:
        return hit[1]
    found = list(Connection.objects.filter(integration__in=annotating_slugs(), enabled=True))
    _cache["all"] = (now + CACHE_SECONDS, found)
    return found


def forget() -> None:
    _cache.clear()


def notice(change: Change) -> ChangeNotice:
    """``change`` as destinations receive it (its service read from ``change.service``, joined by the caller)."""
    service = change.service
    return ChangeNotice(
        change_id=change.pk,
        kind=change.kind,
        summary=change.summary,
        source=change.source,
        service=service.name if service else "",
        namespace=service.namespace if service else "",
        cluster=service.cluster.name if service and service.cluster else "",
        team=service.team if service else "",
        started_at=change.occurred_at,
        ended_at=change.ended_at,
        url=absolute_url(reverse("web:change", args=[change.pk])),
    )


def plan(change_ids: list[int]) -> list[int]:
    """The annotations (existing or new) of every enabled annotating connection that wants these changes: the
    ids the sender is to bring up to date. Runs inside the storing transaction (an outbox: the rows exist once
    the changes do, so ``tasks.sweep`` sends them even when the broker was down; the caller holds a savepoint);
    three queries whatever the batch size."""
    conns = connections()
    if not conns or not change_ids:
        return []
    changes = Change.objects.select_related("service", "service__cluster").filter(pk__in=change_ids)
    notices = [notice(c) for c in changes]
    wanted = {(conn.pk, n.change_id) for conn in conns for n in notices if grafana.wanted(n, conn.config)}
    if not wanted:
        return []
    Annotation.objects.bulk_create(
        [Annotation(connection_id=conn, change_id=change) for conn, change in sorted(wanted)], ignore_conflicts=True
    )
    rows = Annotation.objects.filter(
        connection_id__in=[c.pk for c in conns], change_id__in=[n.change_id for n in notices]
    ).values_list("pk", "connection_id", "change_id")
    return sorted(pk for pk, conn, change in rows if (conn, change) in wanted)


def digest(body: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


def send(annotation_id: int) -> str:
    """Create or edit the annotation of one change if what it shows changed. Returns ``posted``, ``updated``,
    ``unchanged`` or ``gone`` (the row, its change or its connection is gone or disabled); raises ``SendError``
    (nothing recorded: see ``record_failure``)."""
    with transaction.atomic():
        row = (
            Annotation.objects.select_for_update(of=("self",))
            .select_related("connection")
            .filter(pk=annotation_id)
            .first()
        )
        if row is None or not row.connection.enabled:
            return "gone"
        change = Change.objects.select_related("service", "service__cluster").filter(pk=row.change_id).first()
        if change is None:
            return "gone"
        body = grafana.body(notice(change), row.connection.config)
        fingerprint = digest(body)
        if row.status == Annotation.Status.SENT and row.digest == fingerprint:
            return "unchanged"
        secrets = row.connection.secret_store()
        outcome = "updated" if row.annotation_id else "posted"
        row.annotation_id = _push(row.connection, secrets, row.annotation_id, body)
        row.digest, row.status, row.attempts, row.last_error = fingerprint, Annotation.Status.SENT, 0, ""
        row.sent_at = timezone.now()
        row.save()
    logger.info("notify.annotation.sent", extra={"annotation": annotation_id, "outcome": outcome})
    return outcome


def _push(conn: Connection, secrets: SecretStore, annotation_id: int, body: dict[str, Any]) -> int:
    """POST a new annotation (or PATCH ``annotation_id``) and return its id. An annotation deleted in Grafana
    since (PATCH answers 404) is created anew."""
    base = str(conn.config.get("url", "")).rstrip("/")
    headers = {"Authorization": f"Bearer {secrets.get('token') or ''}", "Accept": "application/json"}
    if annotation_id:
        response = _request("PATCH", f"{base}/api/annotations/{annotation_id}", headers, body)
        if response.status_code != 404:
            _check(response)
            return annotation_id
    response = _request("POST", f"{base}/api/annotations", headers, body)
    _check(response)
    try:
        new_id = response.json()["id"]
    except (ValueError, KeyError, TypeError):
        raise SendError("Grafana answered without an annotation id", retry=False) from None
    if not isinstance(new_id, int) or isinstance(new_id, bool) or new_id <= 0:
        raise SendError(f"Grafana answered an annotation id that is not a positive integer: {new_id!r}", retry=False)
    return new_id


def _request(method: str, url: str, headers: dict[str, str], body: dict[str, Any]) -> requests.Response:
    try:
        return requests.request(method, url, json=body, headers=headers, timeout=TIMEOUT_SECONDS, allow_redirects=False)
    except requests.RequestException as exc:
        raise SendError(f"Grafana unreachable: {type(exc).__name__}", retry=True) from None


def _check(response: requests.Response) -> None:
    status = response.status_code
    if status < 300:
        return
    if status == 429:
        raise SendError("Grafana rate limited (429)", retry=True, after=retry_after(response.headers))
    if status in (401, 403):
        raise SendError(f"Grafana refused the service account token ({status})", retry=False)
    message = ""
    try:
        message = str(response.json().get("message") or "")[:200]
    except (ValueError, AttributeError):
        pass
    raise SendError(f"Grafana answered {status}{': ' + message if message else ''}", retry=status >= 500)


def status(conn: Connection) -> PushStatus:
    """What the connection page shows: annotations sent and failed, the last success and the last error."""
    return push_status.summarize(Annotation.objects.filter(connection=conn), rules=[], annotations=True)
