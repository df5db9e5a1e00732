"""Reading the LaunchDarkly audit log: the backstop for webhooks, which LaunchDarkly retries only once.

``GET /api/v2/auditlog`` lists entries newest first, 20 at most per page, without the flag versions; we follow
``_links.next`` (a ``before`` cursor) down to the watermark and ``GET /api/v2/auditlog/{id}`` each flag entry for
``previousVersion``/``currentVersion``. Entries get the same ``external_id`` (``_id``) as by webhook.
5xx answers are retried by urllib3 with backoff; a 429 stops the run with a ``resume_after`` time from
``X-Ratelimit-Reset`` (epoch ms) and the watermark stays put, so the next run picks up where this one could not.
Docs: https://launchdarkly.com/docs/api/audit-log/get-audit-log-entries
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urljoin

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from integrations.base import ChangeRecord, ParseError
from integrations.launchdarkly.records import flag_change

logger = logging.getLogger(__name__)

DEFAULT_API_URL = "https://app.launchdarkly.com"
PAGE_LIMIT = 20  # the API's maximum
MAX_PAGES = 500
TRANSIENT_PAUSE = timedelta(minutes=1)


class RateLimited(Exception):
    def __init__(self, resume_after: datetime, reason: str):
        super().__init__(reason)
        self.resume_after = resume_after


@dataclass
class AuditPoll:
    """``newest`` (epoch ms) is the new watermark; None when the walk did not reach the old one."""

    records: list[ChangeRecord] = field(default_factory=list)
    newest: int | None = None
    resume_after: datetime | None = None
    error: str = ""
    pages: int = 0
    skipped: list[str] = field(default_factory=list)


def session(token: str, *, backoff: float = 0.5, timeout: float = 15.0) -> requests.Session:
    """A session sending the raw access token (no ``Bearer``) and retrying 5xx; 429 is handled by the caller."""
    s = requests.Session()
    retry = Retry(
        total=3,
        backoff_factor=backoff,
        status_forcelist=(500, 502, 503, 504),
        allowed_methods=frozenset({"GET"}),
        respect_retry_after_header=False,
    )
    s.mount("https://", HTTPAdapter(max_retries=retry))
    s.mount("http://", HTTPAdapter(max_retries=retry))
    s.headers.update(
        {"Authorization": token, "Accept": "application/json", "User-Agent": "changetrack-auditlog-poller"}
    )
    s.request = _with_timeout(s.request, timeout)  # type: ignore[method-assign]
    return s


def _with_timeout(request: Any, timeout: float) -> Any:
    def wrapped(method: str, url: str, **kw: Any) -> Any:
        kw.setdefault("timeout", timeout)
        return request(method, url, **kw)

    return wrapped


def _resume(response: requests.Response, now: datetime) -> datetime:
    reset = response.headers.get("X-Ratelimit-Reset", "")
    if reset.isdigit():
        return max(now, datetime.fromtimestamp(int(reset) / 1000, UTC))
    retry_after = response.headers.get("Retry-After", "")
    if retry_after.isdigit():
        return now + timedelta(seconds=int(retry_after))
    return now + TRANSIENT_PAUSE


def _get(s: requests.Session, url: str, now: datetime, params: dict[str, Any] | None = None) -> Any:
    try:
        response = s.get(url, params=params)
    except (requests.exceptions.RetryError, requests.exceptions.ConnectionError, requests.exceptions.Timeout) as exc:
        raise RateLimited(now + TRANSIENT_PAUSE, f"LaunchDarkly unreachable: {type(exc).__name__}") from exc
    if response.status_code == 429:
        raise RateLimited(_resume(response, now), "rate limited (429)")
    if response.status_code != 200:
        raise ParseError(f"LaunchDarkly answered {response.status_code} for {url}")
    try:
        return response.json()
    except ValueError:
        raise ParseError(f"LaunchDarkly answered non-JSON for {url}") from None


def poll_audit_log(
    s: requests.Session, api_url: str, watermark: int, spec: str = "", now: datetime | None = None
) -> AuditPoll:
    """Flag entries newer than ``watermark`` (epoch ms), newest first, each fetched in full. Never raises for
    LaunchDarkly trouble: sets ``resume_after`` (429, outage) or ``error`` (unexpected answer)."""
    now = now or datetime.now(UTC)
    base = (api_url or DEFAULT_API_URL).rstrip("/")
    result = AuditPoll()
    newest = watermark
    url: str | None = f"{base}/api/v2/auditlog"
    params: dict[str, Any] | None = {"limit": PAGE_LIMIT, "after": watermark, **({"spec": spec} if spec else {})}
    try:
        while url and result.pages < MAX_PAGES:
            page = _get(s, url, now, params)
            result.pages += 1
            items = page.get("items") if isinstance(page, dict) else None
            if not isinstance(items, list):
                raise ParseError("audit log page without 'items'")
            reached = not items
            for item in items:
                date = item.get("date") if isinstance(item, dict) else None
                if not isinstance(date, int):
                    result.skipped.append(f"an item without an integer date: {str(item)[:80]}")
                    continue
                if date <= watermark:
                    reached = True
                    break
                newest = max(newest, date)
                if item.get("kind") == "flag":
                    entry = _get(s, f"{base}/api/v2/auditlog/{item['_id']}", now)
                    try:
                        result.records.append(flag_change(entry))
                    except ParseError as exc:  # one odd entry must not stall the watermark forever
                        result.skipped.append(f"{item['_id']}: {exc}")
            links = page.get("_links") if isinstance(page.get("_links"), dict) else {}
            nxt_link = links.get("next") if isinstance(links, dict) else None
            nxt = nxt_link.get("href") if isinstance(nxt_link, dict) else None
            if reached or (not nxt and len(items) < PAGE_LIMIT):
                url = None
                result.newest = newest
            elif nxt:
                url, params = urljoin(base + "/", nxt), None
            else:  # a full page without a next link: continue before the oldest entry seen (the documented fallback)
                oldest = min(i["date"] for i in items if isinstance(i, dict) and isinstance(i.get("date"), int))
                url, params = f"{base}/api/v2/auditlog", {"limit": PAGE_LIMIT, "before": oldest, "after": watermark}
                if spec:
                    params["spec"] = spec
    except RateLimited as exc:
        result.resume_after, result.error = exc.resume_after, str(exc)
    except (ParseError, KeyError) as exc:
        result.error = f"unexpected audit log answer: {exc}"[:500]
    if result.error:
        logger.warning("launchdarkly.poll.stopped", extra={"error": result.error, "pages": result.pages})
    return result
