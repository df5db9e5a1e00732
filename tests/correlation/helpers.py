"""Building histories for correlation tests through the real storage path (``store_records``)."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta

from django.utils import timezone

from changetrack.ingest.store import store_records
from changetrack.models import Alert, Change, Service
from integrations.base import AlertRecord, ChangeRecord, DependencyRecord, ServiceHint

_ids = itertools.count(1)
NOW = timezone.now().replace(second=0, microsecond=0)


def hint(name: str, namespace: str = "shop") -> ServiceHint:
    return ServiceHint(name=name, namespace=namespace, cluster="prod", create=True)


def service(name: str) -> Service:
    return Service.objects.get(name=name, namespace="shop")


def depends(a: str, b: str, provenance: str = "kubernetes", evidence: str = "", confidence: float = 0.9) -> None:
    """``a`` depends on (calls) ``b``."""
    store_records(
        [
            DependencyRecord(
                service=hint(a),
                depends_on=hint(b),
                provenance=provenance,
                evidence=evidence or f"env var {b.upper().replace('-', '_')}_URL",
                confidence=confidence,
            )
        ]
    )


def change(name: str, kind: str, at: datetime, summary: str = "", **kw) -> Change:
    ext = kw.pop("external_id", f"t-{kind}-{next(_ids)}")
    namespace = kw.pop("namespace", "shop")
    diff = kw.pop("diff", ())
    if kind == "deploy" and not diff and kw.pop("image", True):
        diff = ({"path": "spec.template.spec.containers[app].image", "before": "img:1", "after": "img:2"},)
    rec = ChangeRecord(
        source=kw.pop("source", "kubernetes"),
        external_id=ext,
        kind=kind,
        occurred_at=at,
        summary=summary or f"{kind} {name}",
        service=hint(name, namespace),
        diff=tuple(diff),
        **kw,
    )
    ids = store_records([rec]).changes
    return Change.objects.get(pk=ids[0][0])


def replica_cut_under_two_callers() -> Change:
    """checkout and reports call rest-api, whose replicas were cut 50 → 5 ten minutes before ``NOW``."""
    depends("checkout", "rest-api")
    depends("reports", "rest-api")
    return change(
        "rest-api",
        "scale",
        NOW - minutes(10),
        summary="Scaled rest-api 50 → 5",
        diff=({"path": "spec.replicas", "before": 50, "after": 5},),
    )


def alert(name: str, at: datetime, title: str = "Error rate above 5%", **kw) -> Alert:
    rec = AlertRecord(
        source=kw.pop("source", "test"),
        external_id=kw.pop("external_id", f"a-{next(_ids)}"),
        title=title,
        status=kw.pop("status", "triggered"),
        occurred_at=at,
        started_at=at,
        service=hint(name),
        **kw,
    )
    ids = store_records([rec]).alerts
    return Alert.objects.get(pk=ids[0][0])


def resolve(a: Alert, at: datetime) -> None:
    store_records(
        [
            AlertRecord(
                source=a.source,
                external_id=a.external_id,
                title=a.title,
                status="resolved",
                occurred_at=at,
                service=hint(a.service.name),
            )
        ]
    )


def minutes(n: float) -> timedelta:
    return timedelta(minutes=n)
