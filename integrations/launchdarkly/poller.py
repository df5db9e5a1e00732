"""Reading the LaunchDarkly audit log: the backstop for webhooks, which LaunchDarkly retries only once.

``GET /api/v2/auditlog`` lists entries newest first, 20 at most per page, without the flag versions; we follow
``_links.next`` (a ``before`` cursor) down to the watermark and ``GET /api/v2/auditlog/{id}`` each flag entry for
``previousVersion``/``currentVersion``. Entries get the same ``external_id`` (``_id``) as by webhook.
State: ``{"after": epoch ms}``, the newest entry seen; it moves only once a walk reaches the old one, so a run
stopped by a 429 (``X-Ratelimit-Reset``, epoch ms) or an outage is read again from the same point next time.
Docs: https://launchdarkly.com/docs/api/audit-log/get-audit-log-entries
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urljoin

from integrations.base import (
    ChangeRecord,
    ParseError,
    PollError,
    PollResult,
    PollSession,
    Secrets,
    get_json,
)
from integrations.launchdarkly.records import flag_change

DEFAULT_API_URL = "https://app.launchdarkly.com"
PAGE_LIMIT = 20  # the API's maximum
MAX_PAGES = 500
FIRST_POLL_LOOKBACK = timedelta(days=1)


def poll(
    config: Mapping[str, Any], secrets: Secrets, state: Mapping[str, Any], now: datetime, session: PollSession
) -> Iterator[PollResult]:
    """Flag entries newer than ``state["after"]`` (epoch ms; a day back the first time), one step per page,
    each flag entry fetched in full (the contract of ``Integration.poll``). The state moves to the newest entry
    only with the last page. Raises ``RateLimited`` (429, outage) and ``PollError`` (rejected token, an answer
    that is not an audit-log page)."""
    token = secrets.get("api_token")
    if not token:
        raise PollError("this connection has no LaunchDarkly API token")
    saved = state.get("after")
    after = saved if isinstance(saved, int) else int((now - FIRST_POLL_LOOKBACK).timestamp() * 1000)
    base = str(config.get("api_url") or DEFAULT_API_URL).rstrip("/")
    spec = {"spec": str(config["spec"])} if config.get("spec") else {}
    # the raw access token, no "Bearer": https://launchdarkly.com/docs/api#authentication
    headers = {"Authorization": token, "Accept": "application/json"}

    def get(url: str, params: Mapping[str, Any] | None = None) -> Any:
        try:
            return get_json(session, url, now=now, label="LaunchDarkly", params=params, headers=headers)
        except PollError as exc:
            raise PollError(f"unexpected audit log answer: {exc}") from None

    newest = after
    url: str | None = f"{base}/api/v2/auditlog"
    params: dict[str, Any] | None = {"limit": PAGE_LIMIT, "after": after, **spec}
    for _ in range(MAX_PAGES):
        if url is None:
            return
        page = get(url, params)
        items = page.get("items") if isinstance(page, dict) else None
        if not isinstance(items, list):
            raise PollError("unexpected audit log answer: a page without 'items'")
        found: list[ChangeRecord] = []
        skipped: list[str] = []
        reached = not items
        for item in items:
            date = item.get("date") if isinstance(item, dict) else None
            if not isinstance(date, int):
                skipped.append(f"an item without an integer date: {str(item)[:80]}")
                continue
            if date <= after:
                reached = True
                break
            newest = max(newest, date)
            entry_id = item.get("_id")
            if item.get("kind") == "flag" and isinstance(entry_id, str):
                try:
                    found.append(flag_change(get(f"{base}/api/v2/auditlog/{entry_id}")))
                except ParseError as exc:  # one odd entry must not stall the watermark forever
                    skipped.append(f"{entry_id}: {exc}")
        links = page.get("_links") if isinstance(page.get("_links"), dict) else {}
        nxt_link = links.get("next") if isinstance(links, dict) else None
        nxt = nxt_link.get("href") if isinstance(nxt_link, dict) else None
        if reached or (not nxt and len(items) < PAGE_LIMIT):
            url = None
        elif nxt:
            url, params = urljoin(base + "/", nxt), None
        else:  # a full page without a next link: continue before the oldest entry seen (the documented fallback)
            oldest = min(i["date"] for i in items if isinstance(i, dict) and isinstance(i.get("date"), int))
            url, params = f"{base}/api/v2/auditlog", {"limit": PAGE_LIMIT, "before": oldest, "after": after, **spec}
        yield PollResult(found, {"after": newest if url is None else after}, skipped=tuple(skipped))
