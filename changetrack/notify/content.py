"""An alert's notice as destinations receive it: the alert's facts and its top suspects (those that stand out)."""

from __future__ import annotations

import hashlib
import json

from django.urls import reverse

from changetrack.correlation import engine
from changetrack.infra.urls import absolute_url
from changetrack.models import Alert, Change, Feedback, Service, Suspect
from integrations.destination import AlertNotice, SuspectNotice

TOP = 3
#: below this score a suspect is noise whatever the ranker's calibrated threshold (``engine.stands_out_threshold``);
#: a notice with none above both says "no change stands out"
STANDS_OUT = 0.05


def build(alert: Alert) -> AlertNotice:
    """The notice of ``alert`` from its stored suspects (read as stored: never re-ranked here)."""
    stored = list(Suspect.objects.filter(alert=alert).order_by("rank")[:TOP])
    count = Suspect.objects.filter(alert=alert).count()
    changes = Change.objects.in_bulk([s.change_id for s in stored])
    services = Service.objects.select_related("cluster").in_bulk(
        [c.service_id for c in changes.values() if c.service_id]
    )
    verdicts = {f.change_id: f for f in Feedback.objects.filter(alert=alert, change_id__in=list(changes))}
    suspects = []
    floor = max(STANDS_OUT, engine.stands_out_threshold())
    for s in stored:
        change = changes.get(s.change_id)
        if change is None or s.score < floor:
            continue
        service = services.get(change.service_id) if change.service_id else None
        fb = verdicts.get(s.change_id)
        suspects.append(
            SuspectNotice(
                rank=s.rank,
                change_id=change.pk,
                summary=change.summary,
                kind=change.kind,
                service=service.qualified_name if service else "unmapped",
                path=tuple(str(p) for p in s.path),
                minutes_before=round((alert.started_at - change.occurred_at).total_seconds() / 60, 1),
                score=round(s.score, 2),
                reasons=tuple(str(r) for r in s.reasons[:2]),
                url=absolute_url(reverse("web:change", args=[change.pk])),
                verdict=fb.verdict if fb else "",
                verdict_by=fb.author if fb else "",
            )
        )
    alert_url = absolute_url(reverse("web:alert", args=[alert.pk]))
    return AlertNotice(
        alert_id=alert.pk,
        title=alert.title,
        severity=alert.severity,
        status=alert.status,
        service=alert.service.qualified_name if alert.service else "",
        started_at=alert.started_at,
        resolved_at=alert.resolved_at,
        url=alert_url,
        suspects_url=alert_url + "#suspects",
        suspects=tuple(suspects),
        suspect_count=count,
        incident_id=alert.incident_id,
    )


def digest(notice: AlertNotice) -> str:
    """A hash of what a message shows: equal digests mean nothing to edit."""
    data = notice.as_json()
    data.pop("incident_id", None)  # threading is decided once, at the first post
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()
