"""Storing alerts: each record is one lifecycle event (triggered, acknowledged, resolved) applied in time order;
replays and out-of-order events never move an alert backwards."""

from __future__ import annotations

from collections.abc import Sequence

from changetrack.correlation import grouping
from changetrack.ingest.identities import lock_identities, prime_services
from changetrack.models import Alert, Service
from changetrack.resolution import ServiceResolver
from integrations.base import AlertRecord


def store_alerts(records: Sequence[AlertRecord], resolver: ServiceResolver) -> tuple[list[tuple[int, bool]], set[int]]:
    """Apply lifecycle events in time order. Returns (id, created) in input order and the alerts that opened
    or re-opened (their suspects must be ranked)."""
    keys = [(r.source, r.external_id) for r in records]
    lock_identities(keys)
    by_key: dict[tuple[str, str], Alert] = {}
    for source in {s for s, _ in keys}:
        for row in Alert.objects.filter(source=source, external_id__in=[e for s, e in keys if s == source]):
            by_key[(row.source, row.external_id)] = row
    prime_services(resolver, records)
    created: set[tuple[str, str]] = set()
    dirty: set[tuple[str, str]] = set()
    opened: set[tuple[str, str]] = set()
    for rec in sorted(records, key=lambda r: r.occurred_at):
        key = (rec.source, rec.external_id)
        alert = by_key.get(key)
        if alert is None:
            alert = _new_alert(rec, resolver.resolve(rec.service, rec.source))
            by_key[key] = alert
            created.add(key)
            opened.add(key)
        elif apply_transition(alert, rec):
            opened.add(key)
        dirty.add(key)
    for key in created:
        by_key[key].save()
    for key in dirty - created:
        by_key[key].save()
    # an incident resolves with its last open alert and re-opens with any of them
    grouping.refresh_incidents({i for k in dirty - created if (i := by_key[k].incident_id) is not None})
    ids = [(by_key[k].pk, k in created) for k in keys]
    to_rank = {by_key[k].pk for k in opened if by_key[k].status != Alert.Status.RESOLVED or k in created}
    return ids, to_rank


def _new_alert(rec: AlertRecord, service: Service | None) -> Alert:
    started = rec.started_at or rec.occurred_at
    events = [rec.event_id] if rec.event_id else []
    return Alert(
        source=rec.source,
        external_id=rec.external_id,
        title=rec.title[:1024],
        severity=rec.severity,
        status=rec.status,
        started_at=started,
        last_event_at=rec.occurred_at,
        acknowledged_at=rec.occurred_at if rec.status == Alert.Status.ACKNOWLEDGED else None,
        resolved_at=rec.occurred_at if rec.status == Alert.Status.RESOLVED else None,
        service=service,
        service_hint=rec.service.as_dict(),
        labels=dict(rec.labels),
        details={**rec.details, "_events": events},
        links=[dict(x) for x in rec.links],
        url=rec.url[:1000],
    )


def apply_transition(alert: Alert, rec: AlertRecord) -> bool:
    """Move ``alert`` by one lifecycle event; returns True when the alert (re)opened. Replays of an event
    already applied and events older than the last one applied do not move the state."""
    events: list[str] = list(alert.details.get("_events", []))
    if rec.event_id and rec.event_id in events:
        return False
    if rec.event_id:
        alert.details = {**alert.details, "_events": (events + [rec.event_id])[-50:]}
    if rec.started_at and rec.started_at < alert.started_at:
        alert.started_at = rec.started_at
    if rec.occurred_at < alert.last_event_at:
        return False  # out of order: an older event never overrides a newer state
    alert.last_event_at = rec.occurred_at
    if rec.title:
        alert.title = rec.title[:1024]
    reopened = False
    if rec.status == Alert.Status.TRIGGERED:
        if alert.status == Alert.Status.RESOLVED:
            alert.status, alert.resolved_at = Alert.Status.TRIGGERED, None
            alert.trigger_count += 1
            reopened = True
        elif rec.retrigger:
            alert.trigger_count += 1
        if alert.status == Alert.Status.ACKNOWLEDGED:  # un-acknowledged (Opsgenie UnAcknowledge, PagerDuty timeout)
            alert.status, alert.acknowledged_at = Alert.Status.TRIGGERED, None
        alert.severity = rec.severity or alert.severity
    elif rec.status == Alert.Status.ACKNOWLEDGED and alert.status != Alert.Status.RESOLVED:
        alert.status, alert.acknowledged_at = Alert.Status.ACKNOWLEDGED, rec.occurred_at
    elif rec.status == Alert.Status.RESOLVED and alert.status != Alert.Status.RESOLVED:
        alert.status, alert.resolved_at = Alert.Status.RESOLVED, rec.occurred_at
    return reopened
