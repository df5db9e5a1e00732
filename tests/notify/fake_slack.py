"""A local HTTP server speaking the parts of Slack's Web API a bot uses (``auth.test``, ``chat.postMessage``,
``chat.update``), driven by the unmodified slack_sdk through its ``base_url``.

Wire format as Slack's (https://api.slack.com/web): ``POST /api/<method>`` with a JSON or form body and
``Authorization: Bearer xoxb-…``; answers 200 ``{"ok": true, ...}`` or 200 ``{"ok": false, "error": "..."}``;
a rate limit is 429 with ``Retry-After`` and ``{"ok": false, "error": "ratelimited"}``. Message limits are checked
as Slack does (``invalid_blocks``, ``msg_too_long``). Failures can be queued per method.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

from tests.integrations.vendor_http import JsonHandler

TOKEN = "xoxb-test-token"


@dataclass
class Failure:
    method: str
    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)
    times: int = 1


@dataclass
class Message:
    channel: str
    ts: str
    text: str
    blocks: list[dict[str, Any]]
    thread_ts: str = ""
    edits: int = 0


class FakeSlack:
    def __init__(self, token: str = TOKEN) -> None:
        self.token = token
        self.messages: dict[str, Message] = {}
        self.calls: list[tuple[str, dict[str, Any], float]] = []  # (method, body, time.time() on arrival)
        self.failures: list[Failure] = []
        self.channels = {"#oncall": "C0ONCALL", "#payments": "C0PAYMENTS", "#platform": "C0PLATFORM"}
        self.lock = threading.Lock()
        self._clock = 1_700_000_000
        handler = type("Handler", (_Handler,), {"fake": self})
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        """What ``SLACK_API_URL`` is set to (slack_sdk appends the method name)."""
        return f"http://127.0.0.1:{self.server.server_address[1]}/api/"

    def __enter__(self) -> FakeSlack:
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.shutdown()
        self.server.server_close()

    def fail(self, method: str, status: int, error: str, headers: dict[str, str] | None = None, times: int = 1) -> None:
        self.failures.append(Failure(method, status, {"ok": False, "error": error}, headers or {}, times))

    def calls_of(self, method: str) -> list[dict[str, Any]]:
        with self.lock:
            return [body for m, body, _ in self.calls if m == method]

    def in_channel(self, channel_id: str) -> list[Message]:
        with self.lock:
            return [m for m in self.messages.values() if m.channel == channel_id]

    # --- the API --------------------------------------------------------------------------------------------
    def handle(self, method: str, headers: Any, body: dict[str, Any]) -> tuple[int, dict[str, Any], dict[str, str]]:
        with self.lock:
            self.calls.append((method, body, time.time()))
            for failure in self.failures:
                if failure.method == method and failure.times > 0:
                    failure.times -= 1
                    return failure.status, failure.body, failure.headers
            if headers.get("Authorization") != f"Bearer {self.token}":
                return 200, {"ok": False, "error": "invalid_auth"}, {}
            if method == "auth.test":
                return 200, {"ok": True, "url": "https://acme.slack.com/", "team": "acme", "user_id": "U0BOT"}, {}
            if method == "chat.postMessage":
                return 200, self._post(body), {}
            if method == "chat.update":
                return 200, self._update(body), {}
            return 404, {"ok": False, "error": "unknown_method"}, {}

    def _check(self, body: dict[str, Any]) -> str:
        blocks = body.get("blocks") or []
        if isinstance(blocks, str):
            blocks = json.loads(blocks)
        if len(blocks) > 50:
            return "invalid_blocks"
        for block in blocks:
            text = (block.get("text") or {}).get("text", "")
            if block["type"] == "section" and len(text) > 3000:
                return "invalid_blocks"
            if block["type"] == "header" and len(text) > 150:
                return "invalid_blocks"
            for element in block.get("elements", []):
                if element.get("type") == "button" and len(element.get("value", "")) > 2000:
                    return "invalid_blocks"
        if len(body.get("text") or "") > 40000:
            return "msg_too_long"
        if not body.get("text") and not blocks:
            return "no_text"
        return ""

    def _post(self, body: dict[str, Any]) -> dict[str, Any]:
        channel = self.channels.get(body.get("channel", ""), body.get("channel", ""))
        if channel not in self.channels.values():
            return {"ok": False, "error": "channel_not_found"}
        if error := self._check(body):
            return {"ok": False, "error": error}
        thread = str(body.get("thread_ts") or "")
        if thread and thread not in self.messages:
            return {"ok": False, "error": "thread_not_found"}
        self._clock += 1
        ts = f"{self._clock}.000100"
        blocks = body.get("blocks") or []
        self.messages[ts] = Message(channel, ts, body.get("text", ""), blocks, thread)
        return {"ok": True, "channel": channel, "ts": ts, "message": {"text": body.get("text", ""), "ts": ts}}

    def _update(self, body: dict[str, Any]) -> dict[str, Any]:
        message = self.messages.get(str(body.get("ts", "")))
        if message is None or message.channel != body.get("channel"):
            return {"ok": False, "error": "message_not_found"}
        if error := self._check(body):
            return {"ok": False, "error": error}
        message.text, message.blocks, message.edits = body.get("text", ""), body.get("blocks") or [], message.edits + 1
        return {"ok": True, "channel": message.channel, "ts": message.ts, "text": message.text}


class _Handler(JsonHandler):
    fake: FakeSlack

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        if not self.path.startswith("/api/"):
            self._send(404, {"ok": False, "error": "unknown_method"})
            return
        method = self.path[len("/api/") :].split("?")[0]
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if "json" in (self.headers.get("Content-Type") or ""):
            body = json.loads(raw or b"{}")
        else:
            body = {k: v[0] for k, v in parse_qs(raw.decode()).items()}
        status, answer, headers = self.fake.handle(method, self.headers, body)
        self._send(status, answer, headers)
