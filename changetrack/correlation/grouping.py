"""Alert grouping: alerts that start within minutes of each other and share their top suspect form one
``Incident`` (only groups of two or more; a lone alert has no incident)."""

from __future__ import annotations

from datetime import timedelta

from django.db import models, transaction
from django.db.models import Max, Min

from changetrack.infra import db
from changetrack.models import Alert, Change, Incident, Suspect

GROUP_MINUTES = 15


class Unknown:
    """Marks an argument the caller did not look up (``None`` is a valid top change: no suspects)."""


UNKNOWN = Unknown()


def _top_change(alert_id: int) -> int | None:
    return Suspect.objects.filter(alert_id=alert_id, rank=1).values_list("change_id", flat=True).first()


def _detach(alert: Alert) -> None:
    old = alert.incident_id
    Alert.objects.filter(pk=alert.pk).update(incident=None)
    if old is not None:
        rest = Alert.objects.filter(incident_id=old)
        if rest.count() < 2:
            rest.update(incident=None)
            Incident.objects.filter(pk=old).delete()
        else:
            _refresh(old)


def _refresh(incident_id: int) -> None:
    """Start = first alert's start; resolved when every alert is, at the last resolution."""
    alerts = Alert.objects.filter(incident_id=incident_id)
    agg = alerts.aggregate(start=Min("started_at"), end=Max("resolved_at"))
    open_ = alerts.filter(resolved_at__isnull=True).exists()
    Incident.objects.filter(pk=incident_id).update(started_at=agg["start"], resolved_at=None if open_ else agg["end"])


def refresh_incidents(incident_ids: set[int]) -> None:
    """Re-derive start and resolution of ``incident_ids`` after their alerts moved (resolved, re-triggered).
    Call inside the transaction that moved them."""
    ids = sorted(i for i in incident_ids if i is not None)
    if not ids:
        return
    # why the row lock: two alerts of one incident resolving in concurrent transactions would each still see
    # the other open; the second waits here and then reads the first one's committed state
    list(Incident.objects.select_for_update().filter(pk__in=ids).order_by("pk").values_list("pk", flat=True))
    for incident_id in ids:
        _refresh(incident_id)


def _title(change_id: int, count: int) -> str:
    summary = Change.objects.filter(pk=change_id).values_list("summary", flat=True).first() or f"change {change_id}"
    return f"{count} alerts after: {summary}"[:1024]


def _near(alert: Alert, top: int) -> models.QuerySet[Alert]:
    """Other alerts starting within ``GROUP_MINUTES`` of ``alert`` whose top suspect is ``top``."""
    return Alert.objects.filter(
        started_at__gte=alert.started_at - timedelta(minutes=GROUP_MINUTES),
        started_at__lte=alert.started_at + timedelta(minutes=GROUP_MINUTES),
        suspects__rank=1,
        suspects__change_id=top,
    ).exclude(pk=alert.pk)


def assign(alert_id: int, alert: Alert | None = None, top: int | None | Unknown = UNKNOWN) -> int | None:
    """Put ``alert_id`` in the incident of its top suspect (creating it with its neighbours when needed);
    returns the incident id or None. ``alert`` and ``top`` (its rank-1 change) save the look-ups when the
    caller has them."""
    alert = alert or Alert.objects.filter(pk=alert_id).first()
    if alert is None:
        return None
    top = _top_change(alert_id) if isinstance(top, Unknown) else top
    # fast path, no lock: a lone alert with no incident and no peer stays alone. Safe against a peer ranked at
    # the same moment: each checks after committing its own suspects, so the later one sees the other
    if alert.incident_id is None and (top is None or not _near(alert, top).exists()):
        return None
    with transaction.atomic():
        # why a lock per top change: two alerts ranked at once must end in one incident, not two
        db.advisory_xact_lock([db.advisory_key("correlation:incident", str(top or 0))])
        if alert.incident_id is not None:
            current = Incident.objects.filter(pk=alert.incident_id).values_list("top_change_id", flat=True).first()
            if current == top and top is not None:
                _refresh(alert.incident_id)
                return alert.incident_id
            _detach(alert)
            alert.incident_id = None
        if top is None:
            return None
        near = _near(alert, top)
        incident_id = (
            near.exclude(incident__isnull=True)
            .filter(incident__top_change_id=top)
            .values_list("incident_id", flat=True)
            .first()
        )
        if incident_id is None:
            peers = list(near.filter(incident__isnull=True).values_list("pk", flat=True))
            if not peers:
                return None
            incident = Incident.objects.create(
                title=_title(top, len(peers) + 1), started_at=alert.started_at, top_change_id=top
            )
            incident_id = incident.pk
            Alert.objects.filter(pk__in=peers).update(incident_id=incident_id)
        Alert.objects.filter(pk=alert.pk).update(incident_id=incident_id)
        count = Alert.objects.filter(incident_id=incident_id).count()
        Incident.objects.filter(pk=incident_id).update(title=_title(top, count))
        _refresh(incident_id)
    return incident_id
