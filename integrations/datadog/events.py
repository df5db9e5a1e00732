"""Datadog Events API v2 (``GET /api/v2/events``) as a source of changes: deploy markers and other events
that pipelines post to Datadog, selected by the connection's ``events_query``.

Monitor alerts are not polled: the Events API carries no ``$ALERT_CYCLE_KEY``, so polled alerts could not join
the webhook's alert cycles (they come through the webhook only, which Datadog retries on 5xx).

Wire format (https://docs.datadoghq.com/api/latest/events/): headers ``DD-API-KEY`` and
``DD-APPLICATION-KEY``; parameters ``filter[query]``, ``filter[from]`` (ms), ``sort=timestamp``,
``page[limit]``, ``page[cursor]``; keep paging while ``meta.page.after`` is present. A 429 carries
``X-RateLimit-Reset`` (seconds until the window resets). State: ``{"since": ISO}``, the newest event stored;
each run reads from it minus ``OVERLAP`` (events can be indexed late; storage is idempotent on the event id)
and moves it after every page, so a run stopped half-way resumes where it stopped.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import datetime, timedelta
from typing import Any

from integrations.base import (
    CHANGE_KINDS,
    ChangeRecord,
    ParseError,
    PollError,
    PollResult,
    PollSession,
    Secrets,
    get_json,
    parse_time,
    require,
    require_str,
    tags_to_dict,
)
from integrations.datadog import service_hint_from_tags

KINDS = CHANGE_KINDS
SITES = {"datadoghq.com", "datadoghq.eu", "us3.datadoghq.com", "us5.datadoghq.com", "ap1.datadoghq.com", "ddog-gov.com"}
#: events are indexed a little after their timestamp: read this far behind the newest one stored
OVERLAP = timedelta(minutes=2)
DEFAULT_LOOKBACK_MINUTES = 60
PAGE_LIMIT = 100
MAX_PAGES = 20


def api_base(site: str) -> str:
    """``datadoghq.eu`` → ``https://api.datadoghq.eu``; a full URL (a proxy, a test server) is used as is.
    Raises ``PollError`` for a site Datadog does not have."""
    site = (site or "datadoghq.com").strip().rstrip("/")
    if site.startswith(("http://", "https://")):
        return site
    if site not in SITES:
        raise PollError(f"unknown Datadog site {site!r}")
    return f"https://api.{site}"


def _start(config: Mapping[str, Any], state: Mapping[str, Any], now: datetime) -> tuple[datetime | None, datetime]:
    """(the saved ``since`` or None, where this run reads from)."""
    try:
        since = datetime.fromisoformat(state["since"])
        return since, since - OVERLAP
    except (KeyError, TypeError, ValueError):
        pass
    try:
        minutes = int(config.get("events_lookback_minutes") or DEFAULT_LOOKBACK_MINUTES)
    except (TypeError, ValueError):  # a hand-edited config: fall back rather than stop polling
        minutes = DEFAULT_LOOKBACK_MINUTES
    return None, now - timedelta(minutes=max(1, minutes))


def poll(
    config: Mapping[str, Any], secrets: Secrets, state: Mapping[str, Any], now: datetime, session: PollSession
) -> Iterator[PollResult]:
    """Events matching ``config["events_query"]`` from ``state["since"]`` minus the overlap, one step per page
    (the contract of ``Integration.poll``). Raises ``RateLimited`` (429, outage) and ``PollError`` (rejected
    keys, an unknown site, a body that is not an events page)."""
    base = api_base(str(config.get("site") or ""))
    saved, start = _start(config, state, now)
    newest = saved or start
    headers = {
        "DD-API-KEY": secrets.get("api_key") or "",
        "DD-APPLICATION-KEY": secrets.get("app_key") or "",
        "Accept": "application/json",
    }
    params = {
        "filter[query]": str(config.get("events_query") or "").strip(),
        "filter[from]": str(int(start.timestamp() * 1000)),
        "filter[to]": "now",
        "sort": "timestamp",
        "page[limit]": str(PAGE_LIMIT),
    }
    for _ in range(MAX_PAGES):
        body = get_json(session, f"{base}/api/v2/events", now=now, label="Datadog", params=params, headers=headers)
        data = body.get("data") if isinstance(body, Mapping) else None
        if not isinstance(data, list):
            raise PollError("Datadog answered without a 'data' list")
        found: list[ChangeRecord] = []
        skipped: list[str] = []
        for event in data:
            try:
                found.append(event_to_change(event))
            except ParseError as exc:
                skipped.append(str(exc))
        newest = max([newest, *(r.occurred_at for r in found)])
        yield PollResult(found, {"since": newest.isoformat()}, skipped=tuple(skipped))
        meta = body.get("meta")
        page = meta.get("page") if isinstance(meta, Mapping) else None
        cursor = page.get("after") if isinstance(page, Mapping) else None
        if not cursor or not data:
            return
        params = {**params, "page[cursor]": str(cursor)}


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
