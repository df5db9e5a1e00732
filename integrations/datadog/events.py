"""Datadog Events API v2 (``GET /api/v2/events``) as a source of changes: deploy markers and other events
that pipelines post to Datadog, selected by the connection's ``events_query``.

Monitor alerts are not polled: the Events API carries no ``$ALERT_CYCLE_KEY``, so polled alerts could not join
the webhook's alert cycles (they come through the webhook only, which Datadog retries on 5xx).

Wire format (https://docs.datadoghq.com/api/latest/events/): headers ``DD-API-KEY`` and
``DD-APPLICATION-KEY``; parameters ``filter[query]``, ``filter[from]`` (ms), ``sort=timestamp``,
``page[limit]``, ``page[cursor]``; keep paging while ``meta.page.after`` is present. A 429 carries
``X-RateLimit-Reset`` (seconds until the window resets): the poller stops, keeps what it has, and resumes later.
No ORM here; ``changetrack.collect.datadog_events`` stores the records and the watermark.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import requests

from integrations.base import CHANGE_KINDS, ChangeRecord, ParseError, parse_time, require, require_str, tags_to_dict
from integrations.datadog import service_hint_from_tags

KINDS = CHANGE_KINDS
SITES = {"datadoghq.com", "datadoghq.eu", "us3.datadoghq.com", "us5.datadoghq.com", "ap1.datadoghq.com", "ddog-gov.com"}


class RateLimited(Exception):
    """Datadog answered 429; ``retry_after`` seconds until the rate-limit window resets."""

    def __init__(self, retry_after: float):
        super().__init__(f"rate limited for {retry_after:.0f}s")
        self.retry_after = retry_after


class PollError(Exception):
    """The API failed in a way a later run may not fix by itself (auth, 4xx, repeated 5xx, bad body)."""


def api_base(site: str) -> str:
    """``datadoghq.eu`` → ``https://api.datadoghq.eu``; a full URL (a proxy, a test server) is used as is."""
    site = (site or "datadoghq.com").strip().rstrip("/")
    if site.startswith(("http://", "https://")):
        return site
    if site not in SITES:
        raise PollError(f"unknown Datadog site {site!r}")
    return f"https://api.{site}"


@dataclass
class EventsClient:
    base_url: str
    api_key: str
    app_key: str
    session: requests.Session | None = None
    timeout: float = 10.0
    retries: int = 3
    backoff: Callable[[int], None] = lambda attempt: time.sleep(min(2.0, 0.25 * 2**attempt))

    def _get(self, params: Mapping[str, str]) -> Mapping[str, Any]:
        session = self.session or requests.Session()
        headers = {"DD-API-KEY": self.api_key, "DD-APPLICATION-KEY": self.app_key, "Accept": "application/json"}
        for attempt in range(self.retries + 1):
            try:
                response = session.get(
                    f"{self.base_url}/api/v2/events", params=params, headers=headers, timeout=self.timeout
                )
            except requests.RequestException as exc:
                if attempt == self.retries:
                    raise PollError(f"Datadog unreachable: {type(exc).__name__}") from None
                self.backoff(attempt)
                continue
            if response.status_code == 429:
                raise RateLimited(_reset_seconds(response.headers.get("X-RateLimit-Reset")))
            if response.status_code >= 500 and attempt < self.retries:
                self.backoff(attempt)
                continue
            if response.status_code != 200:
                raise PollError(f"Datadog answered {response.status_code}")
            try:
                body = response.json()
            except ValueError:
                raise PollError("Datadog answered with a body that is not JSON") from None
            if not isinstance(body, Mapping):
                raise PollError("Datadog answered with a body that is not an object")
            return body
        raise PollError("unreachable")  # the loop always returns or raises

    def pages(
        self, query: str, since: datetime, limit: int = 100, max_pages: int = 20
    ) -> Iterator[list[Mapping[str, Any]]]:
        """Event pages in time order from ``since`` (inclusive), following ``meta.page.after``."""
        params = {
            "filter[query]": query,
            "filter[from]": str(int(since.timestamp() * 1000)),
            "filter[to]": "now",
            "sort": "timestamp",
            "page[limit]": str(limit),
        }
        for _ in range(max_pages):
            body = self._get(params)
            data = body.get("data") or []
            if not isinstance(data, list):
                raise PollError("field 'data' is not a list")
            yield data
            meta = body.get("meta")
            page = meta.get("page") if isinstance(meta, Mapping) else None
            cursor = page.get("after") if isinstance(page, Mapping) else None
            if not cursor or not data:
                return
            params = {**params, "page[cursor]": str(cursor)}


def _reset_seconds(value: str | None) -> float:
    try:
        return max(1.0, float(value or 60))
    except ValueError:
        return 60.0


def event_to_change(event: Any) -> ChangeRecord:
    """One v2 event → a change. Kind from a ``change_kind:`` tag (else ``custom``); service from its tags."""
    event_id = require_str(event, "id")
    attributes = require(event, "attributes")
    if not isinstance(attributes, Mapping):
        raise ParseError("field 'attributes' must be an object")
    raw_tags = attributes.get("tags") or []
    tags = [str(t) for t in raw_tags] if isinstance(raw_tags, list) else []
    tag_map = tags_to_dict(tags)
    raw_inner = attributes.get("attributes")
    inner: Mapping[str, Any] = raw_inner if isinstance(raw_inner, Mapping) else {}
    message = str(attributes.get("message") or "")
    title = str(inner.get("title") or "").strip()
    if not title and message.strip():
        title = message.strip().splitlines()[0]
    if not title:
        raise ParseError(f"Datadog event {event_id} has neither a title nor a message")
    kind = tag_map.get("change_kind", "").lower()
    return ChangeRecord(
        source="datadog",
        external_id=f"event:{event_id}",
        kind=kind if kind in KINDS else "custom",
        occurred_at=parse_time(require(attributes, "timestamp"), "attributes.timestamp"),
        summary=title[:1024],
        service=service_hint_from_tags(tag_map),
        actor=tag_map.get("author", "") or tag_map.get("user", ""),
        details={"message": message[:4000], "tags": tags[:100]},
        commit_sha=tag_map.get("git.commit.sha", "") or tag_map.get("sha", ""),
        repository=tag_map.get("git.repository_url", "") or tag_map.get("repository", ""),
    )
