"""Candidate changes for an alert: one query over the related services and the correlation window.

The window is the alerting service's ``settings["correlation_window_minutes"]`` (default
``DEFAULT_CORRELATION_WINDOW_MINUTES``), overridden per kind by ``settings["correlation_window_by_kind"]``
(the changed service's setting wins over the alerting service's), plus ``CORRELATION_SKEW_MINUTES`` after the
alert for clocks that disagree.

Speed: a busy neighbourhood holds tens of thousands of changes a day, mostly autoscaler steps. The query
computes a cheap upper bound of the final score in SQL (time decay × graph weight × the kind's highest
possible risk) and returns only the best ``prefetch`` rows, so Python scores hundreds, not thousands.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import connection

from changetrack.correlation import scoring

COLUMNS = ("id", "service_id", "kind", "occurred_at", "ended_at", "summary", "actor", "status", "source",
           "external_id", "diff", "details", "release_key", "commit_sha")


@dataclass
class Candidate:
    """A change as the scorer needs it (a plain row, not a model: cheaper to build by the hundred)."""

    id: int
    service_id: int
    kind: str
    occurred_at: datetime
    ended_at: datetime | None
    summary: str
    actor: str
    status: str
    source: str
    external_id: str
    diff: list[dict[str, Any]]
    details: dict[str, Any]
    release_key: str
    commit_sha: str


def _minutes(value: Any, fallback: int) -> int:
    try:
        minutes = int(value)
    except (TypeError, ValueError):
        return fallback
    return minutes if minutes > 0 else fallback


def windows(alert_settings: dict[str, Any], service_settings: dict[int, dict[str, Any]]) -> tuple[int, dict[str, int], dict[int, dict[str, int]]]:
    """(default window minutes, per-kind windows of the alerting service, per-kind windows by changed service)."""
    default = _minutes(alert_settings.get("correlation_window_minutes"), settings.DEFAULT_CORRELATION_WINDOW_MINUTES)
    by_kind = alert_settings.get("correlation_window_by_kind") or {}
    alert_kinds = {str(k): _minutes(v, default) for k, v in by_kind.items()} if isinstance(by_kind, dict) else {}
    per_service: dict[int, dict[str, int]] = {}
    for sid, s in service_settings.items():
        kinds = s.get("correlation_window_by_kind") if isinstance(s, dict) else None
        if isinstance(kinds, dict) and kinds:
            per_service[sid] = {str(k): _minutes(v, default) for k, v in kinds.items()}
    return default, alert_kinds, per_service


def window_for(kind: str, service_id: int, default: int, alert_kinds: dict[str, int], per_service: dict[int, dict[str, int]]) -> int:
    own = per_service.get(service_id, {})
    if kind in own:
        return own[kind]
    return alert_kinds.get(kind, default)


SQL = """
WITH rel(service_id, weight) AS (SELECT * FROM unnest(%(ids)s::bigint[], %(weights)s::float8[]))
SELECT {columns}
FROM changetrack_change c JOIN rel ON rel.service_id = c.service_id
WHERE c.service_id = ANY(%(ids)s::bigint[]) AND c.occurred_at >= %(lo)s AND c.occurred_at <= %(hi)s
ORDER BY rel.weight
  * (CASE c.kind {kind_cases} ELSE %(kind_default)s END)
  * (0.75 * exp(-GREATEST(EXTRACT(EPOCH FROM (%(at)s - c.occurred_at)) / 60.0, 0) / %(tau_fast)s)
     + 0.25 * exp(-GREATEST(EXTRACT(EPOCH FROM (%(at)s - c.occurred_at)) / 60.0, 0) / %(tau_slow)s)) DESC,
  c.occurred_at DESC
LIMIT %(limit)s
"""


def _sql() -> str:
    cases = " ".join(f"WHEN '{kind}' THEN {cap}" for kind, cap in scoring.RISK_CAP.items())
    return SQL.format(columns=", ".join(f"c.{c}" for c in COLUMNS), kind_cases=cases)


def query_params(at: datetime, weights: dict[int, float], lo: datetime, hi: datetime, limit: int) -> dict[str, Any]:
    ids = sorted(weights)
    return {"ids": ids, "weights": [weights[i] for i in ids], "lo": lo, "hi": hi, "at": at, "limit": limit,
            "kind_default": scoring.RISK_CAP_DEFAULT, "tau_fast": scoring.TAU_FAST, "tau_slow": scoring.TAU_SLOW}


def fetch(at: datetime, weights: dict[int, float], max_window_minutes: int, limit: int = 400) -> list[Candidate]:
    """Changes on the services of ``weights`` (service id → graph weight) in [at - window, at + skew], best
    ``limit`` by the score's upper bound. One round trip."""
    if not weights:
        return []
    lo = at - timedelta(minutes=max_window_minutes)
    hi = at + timedelta(minutes=settings.CORRELATION_SKEW_MINUTES)
    with connection.cursor() as cur:
        cur.execute(_sql(), query_params(at, weights, lo, hi, limit))
        rows = cur.fetchall()
    out = []
    for row in rows:
        data = dict(zip(COLUMNS, row, strict=True))
        for key, empty in (("diff", []), ("details", {})):
            if isinstance(data[key], str):  # psycopg returns jsonb decoded; keep working if a driver does not
                data[key] = json.loads(data[key])
            if data[key] is None:
                data[key] = empty
        out.append(Candidate(**data))
    return out


def explain(at: datetime, weights: dict[int, float], max_window_minutes: int, limit: int = 400) -> str:
    """EXPLAIN ANALYZE of the candidate query (for the benchmark's note)."""
    lo = at - timedelta(minutes=max_window_minutes)
    hi = at + timedelta(minutes=settings.CORRELATION_SKEW_MINUTES)
    with connection.cursor() as cur:
        cur.execute("EXPLAIN (ANALYZE, BUFFERS) " + _sql(), query_params(at, weights, lo, hi, limit))
        return "\n".join(r[0] for r in cur.fetchall())
