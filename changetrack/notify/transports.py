"""The vendor calls of each push destination: Slack's Web API through slack_sdk, an outgoing webhook through
requests. One failure type for both, which says whether a retry may help and when (``Retry-After``)."""

from __future__ import annotations

import time
import urllib.error
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import requests
from django.conf import settings
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from changetrack.models import Notification
from changetrack.models.deliveries import SecretStore
from integrations import webhook
from integrations.destination import AlertNotice
from integrations.slack import blocks

TIMEOUT_SECONDS = 10
#: Slack ``error`` codes a later retry can cure (https://api.slack.com/methods/chat.postMessage#errors)
SLACK_TRANSIENT = frozenset({"internal_error", "fatal_error", "service_unavailable", "request_timeout", "ratelimited"})


class SendError(Exception):
    """A destination refused or could not be reached. ``retry``: worth trying again; ``after``: not before
    this many seconds (the destination's ``Retry-After``)."""

    def __init__(self, message: str, *, retry: bool, after: float | None = None):
        super().__init__(message)
        self.retry = retry
        self.after = after


@dataclass(frozen=True)
class Sent:
    channel_id: str
    ts: str


def retry_after(headers: Mapping[str, Any]) -> float:
    for name, value in headers.items():
        if name.lower() == "retry-after":
            try:
                return max(1.0, float(str(value).strip()))
            except ValueError:
                break
    return 1.0


def send(slug: str, n: Notification, notice: AlertNotice, secrets: SecretStore, thread_ts: str) -> Sent:
    """Post ``notice`` for ``n`` (or edit the message it already has). Raises ``SendError``."""
    if slug == "slack":
        return _slack(n, notice, secrets, thread_ts)
    if slug == "webhook":
        return _webhook(n, notice, secrets)
    raise SendError(f"no transport for {slug!r}", retry=False)


def slack_client(secrets: SecretStore) -> WebClient:
    return WebClient(token=secrets.get("bot_token"), base_url=settings.SLACK_API_URL, timeout=TIMEOUT_SECONDS)


def check(slug: str, secrets: SecretStore) -> str:
    """One line saying whether the destination accepts the connection's credentials (Slack: ``auth.test``)."""
    if slug != "slack":
        return ""
    try:
        answer = slack_client(secrets).auth_test()
    except SlackApiError as exc:
        return f"Slack refused the bot token: {exc.response.get('error') or exc.response.status_code}"
    except (urllib.error.URLError, OSError) as exc:
        return f"Slack could not be reached to check the bot token: {exc}"
    return f"Slack accepted the bot token (workspace {answer.get('team')}, bot user {answer.get('user_id')})."


def _slack(n: Notification, notice: AlertNotice, secrets: SecretStore, thread_ts: str) -> Sent:
    client = slack_client(secrets)
    content: dict[str, Any] = {"text": blocks.text_fallback(notice), "blocks": blocks.build(notice)}
    try:
        if n.ts:
            response = client.chat_update(channel=n.channel_id, ts=n.ts, **content)
        else:
            response = client.chat_postMessage(
                channel=n.channel, unfurl_links=False, thread_ts=thread_ts or None, **content
            )
    except SlackApiError as exc:
        status, error = exc.response.status_code, str(exc.response.get("error") or "")
        if status == 429:
            raise SendError("Slack rate limited (429)", retry=True, after=retry_after(exc.response.headers)) from None
        raise SendError(
            f"Slack answered {status}: {error or 'no error code'}", retry=status >= 500 or error in SLACK_TRANSIENT
        ) from None
    except (urllib.error.URLError, OSError) as exc:  # slack_sdk's transport is urllib; timeouts are OSErrors
        raise SendError(f"Slack unreachable: {exc}", retry=True) from None
    return Sent(str(response.get("channel") or n.channel_id), str(response.get("ts") or n.ts))


def _webhook(n: Notification, notice: AlertNotice, secrets: SecretStore) -> Sent:
    url = str(n.connection.config.get("url", ""))
    secret = secrets.get("signing_secret") or ""
    raw = webhook.body(notice, "alert.updated" if n.sent_at else "alert.announced")
    # one key per version of the notice: a retry of the same version carries the same key
    key = f"changetrack-{n.alert_id}-{n.connection_id}-{n.version + 1}"
    try:
        response = requests.post(
            url,
            data=raw,
            headers=webhook.headers(secret, str(int(time.time())), raw, key),
            timeout=TIMEOUT_SECONDS,
            allow_redirects=False,
        )
    except requests.RequestException as exc:
        raise SendError(f"webhook unreachable: {type(exc).__name__}", retry=True) from None
    if response.status_code == 429:
        raise SendError("webhook rate limited (429)", retry=True, after=retry_after(response.headers))
    if response.status_code >= 300:
        raise SendError(f"webhook answered {response.status_code}", retry=response.status_code >= 500)
    return Sent("", "")  # no message to edit later: each version is a new request
