"""The one webhook receiver: ``POST /hooks/<slug>/<connection uuid>/``.

Fixed order, fixed codes: unknown or disabled connection 404 → body too large 413 → verification 401 →
malformed JSON, missing required field, or anything the JSON-safety check refuses (in the body or in the records
it becomes) 400 → duplicate delivery 200 → store → enqueue → 202. An event type we do not use is stored as
ignored and answered 202 (so vendors do not retry it), with the reason in ``detail``. Errors are problem+json
(``changetrack.infra.problems``). Processing happens later, in batches (``changetrack.ingest.pipeline``); if the
broker is down the stored delivery waits for the sweep. ``receive_at_subpath`` takes the paths an integration's
vendor clients append to the webhook URL (``Integration.webhook_subpaths``).
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
import uuid
from datetime import datetime, timedelta

from cryptography.fernet import InvalidToken
from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.db import connection as db
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver as on_signal
from django.http import HttpRequest, JsonResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from changetrack import partitions
from changetrack.infra.db import raw_cursor
from changetrack.infra.problems import problem_response
from changetrack.ingest import kick, scrubbing
from changetrack.ingest.record_limits import UnsafeJSON, check_records
from changetrack.models import Connection, Delivery
from changetrack.models.deliveries import SecretStore
from integrations import registry
from integrations.base import ParseError, UnsupportedEvent, VerificationError
from integrations.jsonsafety import text_problem

logger = logging.getLogger(__name__)


def storable_headers(request: HttpRequest) -> dict[str, str]:
    """The allow-listed request headers (``changetrack.ingest.scrubbing.KEPT_HEADERS``), scrubbed and storable."""
    return {name: storable_text(value) for name, value in scrubbing.storable_headers(request.headers).items()}


def storable_text(text: str) -> str:
    """``text`` with what PostgreSQL cannot store replaced: headers and event types are kept, not refused."""
    return text if text_problem(text) is None else text.encode("utf-8", "replace").decode().replace("\x00", "\ufffd")


def storable_key(key: str) -> str:
    """A delivery key PostgreSQL can store and that never collides by truncation: long or odd keys are hashed
    (cutting two long keys to a common 255-character prefix would answer the second "duplicate" and lose it)."""
    if len(key) <= 255 and text_problem(key) is None:
        return key
    return "sha256:" + hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


@csrf_exempt
@require_POST
def receive(request: HttpRequest, slug: str, connection_id: uuid.UUID) -> JsonResponse:
    integration = registry.get(slug)
    try:
        found = enabled_connection(slug, connection_id)
    except InvalidToken:
        # the secrets were encrypted under a key this process no longer has (SECRET_KEY changed without the old one
        # in SECRET_KEY_FALLBACKS): the sender should retry once an operator has fixed it, so 503, not 500
        logger.error("ingest.connection.undecryptable", extra={"integration": slug, "connection": str(connection_id)})
        return problem_response(503, "this connection's secrets cannot be read with the current SECRET_KEY")
    if integration is None or found is None:
        return problem_response(404, "no enabled connection with this URL")
    conn, secrets = found
    body = bounded_body(request)
    if isinstance(body, JsonResponse):
        return body
    headers = request.headers
    try:
        integration.verify_request(headers, body, secrets, conn.config)
    except VerificationError as exc:
        logger.info(
            "ingest.delivery.unverified", extra={"integration": slug, "connection": str(conn.pk), "reason": str(exc)}
        )
        return problem_response(401, str(exc))
    status, ignored_because = Delivery.Status.PENDING, ""
    try:
        payload = integration.decode_body(headers, body)
        # credentials are hashed out of the body before anything reads it for storage: the records checked here
        # are the ones the pipeline will make from the stored (scrubbed) body
        scrubbed = scrubbing.scrubbed_payload(payload)
        event_type = integration.event_type(headers, scrubbed)
        try:
            # what the pipeline would fail to store is refused now, while the sender can still hear about it
            check_records(integration.parse(event_type, scrubbed, conn.config))
        except UnsupportedEvent as exc:
            status, ignored_because = Delivery.Status.IGNORED, str(exc)
        except (ParseError, UnsafeJSON):
            raise
        except Exception:  # noqa: BLE001 - a parser bug must not lose the event: keep it; the pipeline marks it failed (replayable)
            logger.exception("ingest.delivery.parser_crashed", extra={"integration": slug, "connection": str(conn.pk)})
        # keys and event types are built from payload fields: scrubbed like the body (the same each retry)
        key = storable_key(scrubbing.scrubbed_text(integration.delivery_key(headers, body, payload)))
        if scrubbed is not payload:
            body = scrubbing.payload_bytes(scrubbed)
        body = integration.storable_body(body, scrubbed)  # e.g. without a credential carried in the body
    except (ParseError, UnsafeJSON) as exc:
        return problem_response(400, str(exc))
    now = timezone.now()
    delivery_id = _store(
        conn,
        slug,
        storable_text(scrubbing.scrubbed_text(event_type))[:100],
        key,
        storable_headers(request),
        body,
        now,
        status,
    )
    if delivery_id is None:
        return JsonResponse({"status": "duplicate", "detail": "this delivery was already received"}, status=200)
    if status == Delivery.Status.PENDING:
        kick.delivery_stored()
    if status == Delivery.Status.IGNORED:  # the sender's log says why nothing came of it
        return JsonResponse({"status": "ignored", "delivery": delivery_id, "detail": ignored_because}, status=202)
    return JsonResponse({"status": "accepted", "delivery": delivery_id}, status=202)


def bounded_body(request: HttpRequest) -> bytes | JsonResponse:
    """The raw body, or the 413 problem when it (or its declared length) is over ``WEBHOOK_MAX_BODY_BYTES``."""
    limit = settings.WEBHOOK_MAX_BODY_BYTES
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    if declared > limit:
        return problem_response(413, f"body is over the {limit}-byte limit")
    try:
        body = request.body
    except RequestDataTooBig:
        return problem_response(413, f"body is over the {limit}-byte limit")
    if len(body) > limit:
        return problem_response(413, f"body is over the {limit}-byte limit")
    return body


@csrf_exempt
@require_POST
def receive_at_subpath(request: HttpRequest, slug: str, connection_id: uuid.UUID, subpath: str) -> JsonResponse:
    """``POST /hooks/<slug>/<uuid>/<subpath>``: the same receiver, for a path the integration names in
    ``webhook_subpaths`` (a vendor client given the webhook URL as its base URL appends its own path)."""
    integration = registry.get(slug)
    if integration is None or subpath.strip("/") not in integration.webhook_subpaths:
        return problem_response(404, "no enabled connection with this URL")
    return receive(request, slug, connection_id)


_LOOKUP = """
SELECT config::text, secrets_encrypted, secret_hashes::text FROM changetrack_connection
WHERE id = %s AND integration = %s AND enabled
"""


#: (slug, connection id) → (expires at, (connection, its secrets)); cleared on save/delete of a Connection here
_connections: dict[tuple[str, uuid.UUID], tuple[float, tuple[Connection, SecretStore]]] = {}


def enabled_connection(slug: str, connection_id: uuid.UUID) -> tuple[Connection, SecretStore] | None:
    """The enabled connection and its secrets, cached for ``WEBHOOK_CONNECTION_CACHE_SECONDS`` per process.

    The lookup cost about as much as the delivery INSERT (receiver benchmark), and decrypting the secrets on every
    request is a Fernet decryption. A change made elsewhere (another process, a bulk update) reaches this process
    within the TTL; saves in this process apply at once."""
    key = (slug, connection_id)
    now = time.monotonic()
    hit = _connections.get(key)
    if hit and hit[0] > now:
        return hit[1]
    with db.cursor() as cur:
        cur.execute(_LOOKUP, [connection_id, slug])
        row = cur.fetchone()
    if row is None:
        _connections.pop(key, None)
        return None
    conn = Connection(
        id=connection_id,
        integration=slug,
        enabled=True,
        config=json.loads(row[0]),
        secrets_encrypted=row[1],
        secret_hashes=json.loads(row[2]),
    )
    found = (conn, conn.secret_store())
    ttl = settings.WEBHOOK_CONNECTION_CACHE_SECONDS
    if ttl > 0:
        _connections[key] = (now + ttl, found)
    return found


@on_signal(post_save, sender=Connection)
@on_signal(post_delete, sender=Connection)
def _forget_connection(sender: type[Connection], instance: Connection, **kwargs: object) -> None:
    _connections.pop((instance.integration, instance.pk), None)
    # the slug may have changed: drop every entry for this id
    for key in [k for k in _connections if k[1] == instance.pk]:
        _connections.pop(key, None)


#: ``Connection.last_delivery_at`` moves at most once a minute: the UPDATE's condition skips a row moved within the
#: minute (a skipped row is not locked), so a busy sender's deliveries do not each queue on the connection's row
#: lock (a page says "2 minutes ago"; the exact time is on the delivery rows)
LAST_DELIVERY_RESOLUTION = timedelta(minutes=1)

#: The duplicate check is the key's INSERT: a key seen within the dedupe window conflicts and inserts nothing, so
#: no delivery row either; a key seen before the window is refreshed and the delivery stored, and the connection's
#: last delivery moved (``LAST_DELIVERY_RESOLUTION``). One round trip.
_INSERT = """
WITH fresh AS (
    INSERT INTO changetrack_deliverykey AS seen (connection_id, delivery_key, received_at) VALUES (%(conn)s, %(key)s, %(now)s)
    ON CONFLICT (connection_id, delivery_key) DO UPDATE SET received_at = EXCLUDED.received_at
        WHERE seen.received_at <= %(window_start)s
    RETURNING 1
), touched AS (
    UPDATE changetrack_connection SET last_delivery_at = %(now)s
    WHERE id = %(conn)s AND EXISTS (SELECT 1 FROM fresh)
        AND (last_delivery_at IS NULL OR last_delivery_at <= %(touch_before)s)
)
INSERT INTO changetrack_delivery
    (connection_id, integration, event_type, delivery_key, headers, body, received_at, status, error, attempts, records)
SELECT %(conn)s, %(slug)s, %(event_type)s, %(key)s, %(headers)s, %(body)s, %(now)s, %(status)s, '', 0, 0 FROM fresh
RETURNING id
"""


def _store(
    conn: Connection,
    slug: str,
    event_type: str,
    key: str,
    headers: dict[str, str],
    body: bytes,
    now: datetime,
    status: str,
) -> int | None:
    """Insert the delivery unless the same key arrived within the dedupe window; None for a duplicate."""
    partitions.ensure_for("changetrack_delivery", [now])
    params = {
        "conn": conn.pk,
        "key": key,
        "now": now,
        "window_start": now - settings.DELIVERY_DEDUPE_WINDOW,
        "touch_before": now - LAST_DELIVERY_RESOLUTION,
        "slug": slug,
        "event_type": event_type,
        "headers": json.dumps(headers),
        "body": body,
        "status": status,
    }
    # server-side binding: psycopg prepares the statement after a few uses, which saves re-planning an INSERT
    # into a partitioned table on every request; errors stay Django's (the 503 middleware relies on it)
    with db.wrap_database_errors, raw_cursor() as cur:
        cur.execute(_INSERT, params)
        row = cur.fetchone()
    return row[0] if row else None


def forget_expired_keys() -> int:
    """Delete delivery keys older than the dedupe window (they already count as new); returns how many."""
    with db.cursor() as cur:
        cur.execute(
            "DELETE FROM changetrack_deliverykey WHERE received_at <= %s",
            [timezone.now() - settings.DELIVERY_DEDUPE_WINDOW],
        )
        return cur.rowcount
