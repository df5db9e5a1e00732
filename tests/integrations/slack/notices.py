"""Alert notices for the Slack and webhook tests (plain data, as ``changetrack.notify.content`` builds them)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

from integrations.destination import AlertNotice, SuspectNotice

BASE = "https://changetrack.example.com"


def suspect(rank: int, change_id: int, **overrides: object) -> SuspectNotice:
    fields: dict[str, object] = {
        "rank": rank,
        "change_id": change_id,
        "summary": f"Deploy payments 2.{change_id}.0",
        "kind": "deploy",
        "service": "prod-us/shop/payments",
        "path": ("checkout", "payments"),
        "minutes_before": 7.0,
        "score": 0.82,
        "reasons": ("deployed 7 min before the alert", "checkout depends on payments via env var PAYMENTS_URL", "x"),
        "url": f"{BASE}/changes/{change_id}/",
    }
    fields.update(overrides)
    return SuspectNotice(**fields)  # type: ignore[arg-type]


def notice(**overrides: object) -> AlertNotice:
    fields: dict[str, object] = {
        "alert_id": 7,
        "title": "Checkout error rate above 5%",
        "severity": "critical",
        "status": "triggered",
        "service": "prod-us/shop/checkout",
        "started_at": datetime(2026, 11, 21, 10, 11, 30, tzinfo=UTC),
        "resolved_at": None,
        "url": f"{BASE}/alerts/7/",
        "suspects_url": f"{BASE}/alerts/7/#suspects",
        "suspects": (
            suspect(1, 41),
            suspect(2, 42, score=0.4, minutes_before=30.0, path=("checkout",), service="prod-us/shop/checkout"),
            suspect(3, 43, score=0.1, minutes_before=-2.0, verdict="unrelated", verdict_by="@maria"),
        ),
        "suspect_count": 9,
    }
    fields.update(overrides)
    return AlertNotice(**fields)  # type: ignore[arg-type]


def without_suspects() -> AlertNotice:
    return replace(notice(), suspects=(), suspect_count=0)
