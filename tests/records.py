"""Records for tests that store through ``store_records`` directly (no integration in between)."""

from __future__ import annotations

from datetime import datetime

from integrations.base import AlertRecord, ChangeRecord, ServiceHint


def change(ext: str, at: datetime, hint: ServiceHint | None = None) -> ChangeRecord:
    """A deploy of source ``test`` named ``ext``; on ``svc`` (created if missing) unless ``hint`` says otherwise."""
    return ChangeRecord(
        source="test",
        external_id=ext,
        kind="deploy",
        occurred_at=at,
        summary=ext,
        service=hint or ServiceHint(name="svc", namespace="ns", cluster="c1", create=True),
    )


def triggered_alert(ext: str, title: str, at: datetime, hint: ServiceHint) -> AlertRecord:
    """A Datadog alert that started at ``at`` on whatever ``hint`` names."""
    return AlertRecord(
        source="datadog",
        external_id=ext,
        title=title,
        status="triggered",
        occurred_at=at,
        started_at=at,
        service=hint,
    )
