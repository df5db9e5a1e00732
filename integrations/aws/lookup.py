"""Polling CloudTrail ``LookupEvents``: the management events of the last 90 days, writes only.

Per region: ``LookupAttributes=[ReadOnly=false]`` (the API takes one attribute), ``StartTime`` a little before
the cursor (events reach LookupEvents minutes after they happen), ``EndTime`` now, newest first, 50 per page,
``NextToken`` to the end. The cursor is event time + ids: ``{"after": ISO, "seen": [eventIDs at or after
after - OVERLAP]}``, so the overlap re-reads nothing twice; it moves only when a walk reaches its end. A walk
cut short (a throttle, ``MAX_PAGES_PER_RUN``) is saved as ``walk`` (its window and ``NextToken``) and resumed.
``StartTime`` is never older than CloudTrail's 90-day history. Records are the webhook's
(``integrations.aws.cloudtrail.changes`` of ``CloudTrailEvent``), so an event pushed and polled is stored once.
Docs: https://docs.aws.amazon.com/awscloudtrail/latest/APIReference/API_LookupEvents.html
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from integrations.aws import clients, cloudtrail
from integrations.base import (
    ChangeRecord,
    ParseError,
    PollError,
    PollResult,
    PollSession,
    Secrets,
    UnsupportedEvent,
    parse_json,
    parse_time,
)

POLL_INTERVAL = timedelta(minutes=5)
HISTORY = timedelta(days=90)
#: how far behind the cursor each walk starts again: CloudTrail delivers an event minutes after the call
OVERLAP = timedelta(minutes=15)
FIRST_POLL_LOOKBACK = timedelta(days=1)
PAGE_SIZE = 50  # the API's maximum
MAX_PAGES_PER_RUN = 60
MAX_SEEN = 5000
#: 2 requests per second per account and region
REQUEST_INTERVAL = 0.5


def poll(
    config: Mapping[str, Any], secrets: Secrets, state: Mapping[str, Any], now: datetime, session: PollSession
) -> Iterator[PollResult]:
    """One step per page of each region (the contract of ``Integration.poll``)."""
    saved = state.get("cloudtrail")
    cursors: dict[str, Any] = dict(saved) if isinstance(saved, Mapping) else {}
    for region in clients.regions(config):
        api = clients.client("cloudtrail", region, config, secrets, session)
        for records, cursor, note in _walk(api, region, config, cursors.get(region) or {}, now):
            cursors[region] = cursor
            yield PollResult(records, {**state, "cloudtrail": dict(cursors)}, error=note[0], skipped=note[1])


def _walk(
    api: Any, region: str, config: Mapping[str, Any], cursor: Mapping[str, Any], now: datetime
) -> Iterator[tuple[list[ChangeRecord], dict[str, Any], tuple[str, tuple[str, ...]]]]:
    horizon = now - HISTORY + timedelta(minutes=5)  # a margin: the service's "90 days" is measured on its clock
    after = _time(cursor.get("after")) or now - FIRST_POLL_LOOKBACK
    note = ""
    if after < horizon:
        note = f"CloudTrail {region}: events before {horizon:%Y-%m-%d %H:%M} are past the 90-day history"
    walk = cursor.get("walk") if isinstance(cursor.get("walk"), Mapping) else None
    start = _time(walk.get("start")) if walk else None
    end = _time(walk.get("end")) if walk else None
    if walk is None or start is None or end is None:
        walk, start, end = None, max(after - OVERLAP, horizon), now
    token: str | None = str(walk["token"]) if walk and walk.get("token") else None
    resumed = token is not None  # only a token saved by an earlier run can have expired
    seen = cursor.get("seen")
    skip: dict[str, str] = dict(seen) if isinstance(seen, Mapping) else {}
    met: dict[str, str] = dict(walk.get("met") or {}) if walk else {}  # eventID → time, of this walk
    key = clients.pace_key("cloudtrail", region, config)
    for _ in range(MAX_PAGES_PER_RUN):
        request: dict[str, Any] = {
            "LookupAttributes": [{"AttributeKey": "ReadOnly", "AttributeValue": "false"}],
            "StartTime": start,
            "EndTime": end,
            "MaxResults": PAGE_SIZE,
        }
        if token:
            request["NextToken"] = token
        clients.paced(key, REQUEST_INTERVAL)
        try:
            with clients.translated_errors(f"CloudTrail {region}", now):
                page = api.lookup_events(**request)
        except PollError as exc:
            if not resumed or "InvalidNextTokenException" not in str(exc):
                raise
            # a saved walk's token expired: walk the window again from the top (storage is idempotent)
            start, end, token, met, resumed = max(after - OVERLAP, horizon), now, None, {}, False
            continue
        resumed = False
        records, skipped = _records(page.get("Events") or [], skip, met, config)
        token = page.get("NextToken") or None
        if token is None:
            yield records, _finished(skip, met, after), (note, skipped)
            return
        progress = {"start": start.isoformat(), "end": end.isoformat(), "token": token, "met": met}
        yield records, {**cursor, "walk": progress}, (note, skipped)
        note = ""


def _records(
    events: list[Any], skip: Mapping[str, str], met: dict[str, str], config: Mapping[str, Any]
) -> tuple[list[ChangeRecord], tuple[str, ...]]:
    records: list[ChangeRecord] = []
    skipped: list[str] = []
    for event in events:
        event_id = event.get("EventId") if isinstance(event, Mapping) else None
        if not isinstance(event_id, str) or event_id in skip or event_id in met:
            continue
        try:
            record = parse_json(str(event["CloudTrailEvent"]).encode())
            when = event["EventTime"]
            met[event_id] = (when if isinstance(when, datetime) else parse_time(when)).astimezone(UTC).isoformat()
            records += cloudtrail.changes(record, config)
        except UnsupportedEvent:
            continue
        except (KeyError, TypeError, ValueError, ParseError) as exc:  # one odd event must not stall the cursor
            skipped.append(f"{event_id}: {exc}"[:200])
    return records, tuple(skipped)


def _finished(seen: Mapping[str, str], met: Mapping[str, str], after: datetime) -> dict[str, Any]:
    """The cursor after a complete walk: the newest event time, and the ids (with their times) within
    ``OVERLAP`` of it, which the next walk reads again and skips."""
    times = {event_id: datetime.fromisoformat(at) for event_id, at in {**seen, **met}.items()}
    newest = max([after, *times.values()])
    kept = sorted(((at, i) for i, at in times.items() if at >= newest - OVERLAP), reverse=True)[:MAX_SEEN]
    return {"after": newest.isoformat(), "seen": {i: at.isoformat() for at, i in kept}}


def _time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return parse_time(value)
    except ParseError:
        return None
