"""Bodies sent with ``Transfer-Encoding: chunked`` (no ``Content-Length``) through real gunicorn: read whole by
the webhook receiver and the API, and an oversized one still refused with 413 (finding 4 of issue 15)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import requests

from changetrack.models import ApiToken, Delivery
from tests.reliability.conftest import Stack


def _chunks(body: bytes, size: int = 7) -> Iterator[bytes]:
    # a generator body makes requests send Transfer-Encoding: chunked with no Content-Length
    for start in range(0, len(body), size):
        yield body[start : start + size]


def test_a_chunked_webhook_body_is_read_whole_and_accepted(stack: Stack) -> None:
    body = json.dumps(
        {
            "type": "change",
            "service": "checkout",
            "kind": "deploy",
            "summary": "chunked deploy",
            "timestamp": "2026-11-21T10:04:00Z",
            "external_id": "chunk-1",
        }
    ).encode()
    answer = requests.post(
        f"http://127.0.0.1:{stack.port}{stack.path}",
        data=_chunks(body),
        headers={"Content-Type": "application/json", "X-Changetrack-Token": stack.token},
        timeout=30,
    )
    assert answer.request.headers.get("Transfer-Encoding") == "chunked"
    assert answer.status_code == 202, answer.text
    stored = Delivery.objects.get(pk=answer.json()["delivery"])
    assert json.loads(bytes(stored.body)) == json.loads(body)


def test_a_chunked_api_body_is_read_whole_and_creates_the_change(stack: Stack) -> None:
    _, token = ApiToken.issue("chunked", ["read", "write"])
    body = json.dumps(
        {"service": "checkout", "kind": "deploy", "summary": "chunked", "timestamp": "2026-11-21T10:04:00Z"}
    ).encode()
    answer = requests.post(
        f"http://127.0.0.1:{stack.port}/api/v1/changes",
        data=_chunks(body),
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
        timeout=30,
    )
    assert answer.status_code == 201, answer.text
    assert answer.json()["summary"] == "chunked"


def test_an_oversized_chunked_webhook_body_is_refused_with_413(stack: Stack) -> None:
    body = b'{"pad": "' + b"x" * (2 * 1024 * 1024) + b'"}'
    answer = requests.post(
        f"http://127.0.0.1:{stack.port}{stack.path}",
        data=_chunks(body, 65536),
        headers={"Content-Type": "application/json", "X-Changetrack-Token": stack.token},
        timeout=30,
    )
    assert answer.status_code == 413, answer.text
    assert not Delivery.objects.exists()
