"""The outgoing webhook: the same notice as JSON, signed, retried with backoff; and Slack down blocks nothing."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from http.server import ThreadingHTTPServer

import pytest

from changetrack.models import Alert, Notification, Suspect
from integrations import webhook
from tests.integrations.vendor_http import JsonHandler
from tests.notify.conftest import send_alert, send_change
from tests.waiting import eventually

pytestmark = pytest.mark.django_db(transaction=True)
SECRET = "hook-secret"


class Receiver:
    """A local endpoint that answers the first ``failures`` requests with 503, then 200, keeping every request."""

    def __init__(self, failures: int = 0) -> None:
        self.failures = failures
        self.requests: list[tuple[dict[str, str], bytes]] = []
        handler = type("Handler", (_Handler,), {"receiver": self})
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/incoming"


class _Handler(JsonHandler):
    receiver: Receiver

    def do_POST(self) -> None:  # noqa: N802
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.receiver.requests.append((dict(self.headers.items()), body))
        if self.receiver.failures > 0:
            self.receiver.failures -= 1
            self._send(503, {"error": "busy"})
        else:
            self._send(200, {"ok": True})


def test_an_alert_is_posted_as_signed_json_and_retried_after_a_503(client, connection_factory, source, celery_worker):
    receiver = Receiver(failures=1)
    connection_factory("webhook", clear={"signing_secret": SECRET}, config={"url": receiver.url})
    send_change(client, source, "d-1", "checkout", 20, "Deploy checkout 2.14.0")
    send_alert(client, source, "a-1", "checkout", 10)
    assert eventually(lambda: Notification.objects.filter(status="sent").exists())
    assert len(receiver.requests) == 2
    (first_headers, first_body), (headers, body) = receiver.requests
    assert first_headers["Idempotency-Key"] == headers["Idempotency-Key"]  # a retry of the same version
    expected = hmac.new(SECRET.encode(), headers[webhook.TIMESTAMP_HEADER].encode() + b"." + body, hashlib.sha256)
    assert headers[webhook.SIGNATURE_HEADER] == f"sha256={expected.hexdigest()}"
    sent = json.loads(body)
    assert sent["event"] == "alert.announced"
    assert sent["alert"]["title"] == "Errors on checkout"
    assert sent["alert"]["suspects"][0]["summary"] == "Deploy checkout 2.14.0"
    assert Notification.objects.get().attempts == 0


def test_slack_being_unreachable_blocks_neither_ingestion_nor_ranking(client, settings, slack, source, celery_worker):
    settings.SLACK_API_URL = "http://127.0.0.1:9/api/"  # nothing listens there
    send_change(client, source, "d-1", "checkout", 20, "Deploy checkout 2.14.0")
    send_alert(client, source, "a-1", "checkout", 10)
    assert eventually(lambda: Suspect.objects.exists())
    assert eventually(lambda: Notification.objects.exclude(last_error="").exists())
    assert "unreachable" in Notification.objects.get().last_error
    assert Alert.objects.get().suspects_computed_at is not None
