"""Candidate changes for an alert: one query over the related services and the correlation window.

The window is the alerting service's ``settings["correlation_window_minutes"]`` (default
``DEFAULT_CORRELATION_WINDOW_MINUTES``), overridden per kind by ``settings["correlation_window_by_kind"]``
(the changed service's setting wins over the alerting service's), plus ``CORRELATION_SKEW_MINUTES`` after the
alert for clocks that disagree.

Speed: a busy neighbourhood holds tens of thousands of changes a day, mostly autoscaler steps. Two bounds
keep the work small: per service, only changes recent enough to still reach ``MIN_SCORE`` given the
service's graph weight are read (an index range scan per service on (service_id, occurred_at)); and the
query orders by an upper bound of the final score (time^0.7 × graph weight × the kind's highest possible
risk, as in ``engine._upper_bound``), returning the best ``limit`` rows, so Python scores hundreds, not thousands.
"""

from __future__ import annotations

import functools
import json
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import connection, transaction

from changetrack.correlation import scoring

COLUMNS = (
    "id",
    "service_id",
    "kind",
    "occurred_at",
    "ended_at",
    "summary",
    "actor",
    "status",
    "source",
    "external_id",
    "diff",
    "details",
    "release_key",
    "commit_sha",
)


class Candidate:
    """A change as the scorer needs it (a plain row, not a model: cheaper to build by the hundred).

    ``diff`` and ``details`` may arrive as JSON text and are decoded on first use: a ranking reads hundreds of
    rows but scores only the few whose upper bound (``bound``, computed in SQL) can still reach the top."""

    __slots__ = (*COLUMNS[:10], "_diff", "_details", "release_key", "commit_sha", "bound")

    def __init__(
        self,
        id: int,
        service_id: int,
        kind: str,
        occurred_at: datetime,
        ended_at: datetime | None,
        summary: str,
        actor: str,
        status: str,
        source: str,
        external_id: str,
        diff: Any,
        details: Any,
        release_key: str,
        commit_sha: str,
        bound: float = 1.0,
    ):
        self.id, self.service_id, self.kind, self.occurred_at, self.ended_at = id, service_id, kind, occurred_at, ended_at
        self.summary, self.actor, self.status, self.source, self.external_id = summary, actor, status, source, external_id
        self._diff, self._details = diff, details
        self.release_key, self.commit_sha, self.bound = release_key, commit_sha, bound

    @property
    def diff(self) -> list[dict[str, Any]]:
        if not isinstance(self._diff, list):
            self._diff = _json(self._diff, [])
        return self._diff

    @property
    def details(self) -> dict[str, Any]:
        if not isinstance(self._details, dict):
            self._details = _json(self._details, {})
        return self._details

    @property
    def pk(self) -> int:  # callers written against Change rows keep working
        return self.id

    def __repr__(self) -> str:
        return f"Candidate({self.id}, {self.kind}, service {self.service_id}, {self.occurred_at.isoformat()})"


def _json(value: Any, empty: Any) -> Any:
    if isinstance(value, str | bytes):
        value = json.loads(value)
    return empty if value is None else value


def _minutes(value: Any, fallback: int) -> int:
    try:
        minutes = int(value)
    except (TypeError, ValueError):
        return fallback
    return minutes if minutes > 0 else fallback


def windows(
    alert_settings: dict[str, Any], service_settings: dict[int, dict[str, Any]]
) -> tuple[int, dict[str, int], dict[int, dict[str, int]]]:
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


def window_for(
    kind: str, service_id: int, default: int, alert_kinds: dict[str, int], per_service: dict[int, dict[str, int]]
) -> int:
    own = per_service.get(service_id, {})
    if kind in own:
        return own[kind]
    return alert_kinds.get(kind, default)


#: the newest changes read per service; also what makes the planner walk the (service_id, occurred_at) index
#: once per related service instead of scanning whole day partitions
PER_SERVICE = 3000
#: a change whose best possible score (graph weight × highest kind risk × recency) is below this is no candidate
MIN_SCORE = 0.01

SQL = """
WITH rel(service_id, weight, since, until) AS (
  SELECT * FROM unnest(%(ids)s::bigint[], %(weights)s::float8[], %(since)s::timestamptz[], %(until)s::timestamptz[]))
SELECT {columns}, b.bound
FROM rel CROSS JOIN LATERAL (
  SELECT * FROM changetrack_change c
  WHERE c.service_id = rel.service_id AND c.occurred_at >= rel.since AND c.occurred_at <= rel.until
  ORDER BY c.occurred_at DESC LIMIT %(per_service)s) c
CROSS JOIN LATERAL (SELECT GREATEST(EXTRACT(EPOCH FROM (%(at)s - c.occurred_at))::float8 / 60.0, 0.0) AS m) t
CROSS JOIN LATERAL (SELECT rel.weight
  * (CASE c.kind {kind_cases} ELSE %(kind_default)s::float8 END)
  * power(0.75 * exp(-t.m / %(tau_fast)s::float8) + 0.25 * exp(-t.m / %(tau_slow)s::float8), 0.7) AS bound) b
ORDER BY b.bound DESC, c.occurred_at DESC
LIMIT %(limit)s
"""

STALE_SQL = """
WITH rel(service_id, since, until) AS (
  SELECT * FROM unnest(%(ids)s::bigint[], %(since)s::timestamptz[], %(until)s::timestamptz[]))
SELECT EXISTS (
  SELECT 1 FROM rel CROSS JOIN LATERAL (
    SELECT 1 FROM changetrack_change c
    WHERE c.service_id = rel.service_id AND c.occurred_at >= rel.since AND c.occurred_at <= rel.until
      AND c.updated_at > %(computed)s LIMIT 1) c)
"""


def _sql() -> str:
    # float8 throughout: EXTRACT returns numeric, and exp() on numeric is arbitrary precision (10× slower)
    cases = " ".join(f"WHEN '{kind}' THEN {float(cap)}::float8" for kind, cap in scoring.RISK_CAP.items())
    # diff and details as text: decoded in Python only for the rows that get scored
    columns = ", ".join(f"c.{c}::text" if c in ("diff", "details") else f"c.{c}" for c in COLUMNS)
    return SQL.format(columns=columns, kind_cases=cases)


Ranges = dict[int, tuple[datetime, datetime]]


def reach_minutes(weight: float, window_minutes: int, floor: float = MIN_SCORE) -> float:
    return _reach(round(weight, 4), window_minutes, round(floor, 4))


@functools.lru_cache(maxsize=4096)  # few distinct weights (direction × hops × confidence): solve each once
def _reach(weight: float, window_minutes: int, floor: float) -> float:
    """How far back a change on a service of ``weight`` can still score ``floor``: weakly related services
    (siblings through a shared hub, 3 hops up) only matter for recent changes. Exact, not a heuristic: the
    final score is at most time^0.7 × weight × 1.6 (risk ≤ 1, similar-alert feedback × ≤ 1.6) and
    time_score decreases; verdicts on the alert itself are fetched separately (``by_ids``), whatever their age."""
    if weight <= 0:
        return 0.0
    need = (max(floor, 1e-9) / (weight * 1.6)) ** (1 / 0.7)
    if scoring.time_score(window_minutes) >= need:
        return float(window_minutes)
    if scoring.time_score(0) < need:
        return 0.0
    lo, hi = 0.0, float(window_minutes)
    for _ in range(30):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if scoring.time_score(mid) >= need else (lo, mid)
    return lo


def ranges(at: datetime, weights: dict[int, float], window_minutes: int, floor: float = MIN_SCORE) -> Ranges:
    """service id → [since, until]: the part of the window where a change on it can still score ``floor``."""
    hi = at + timedelta(minutes=settings.CORRELATION_SKEW_MINUTES)
    out = {}
    for sid, w in weights.items():
        reach = reach_minutes(w, window_minutes, floor)
        if reach > 0 or floor <= MIN_SCORE:
            out[sid] = (at - timedelta(minutes=reach), hi)
    return out


def query_params(at: datetime, weights: dict[int, float], spans: Ranges, limit: int) -> dict[str, Any]:
    ids = sorted(spans)
    return {
        "ids": ids,
        "weights": [weights[i] for i in ids],
        "since": [spans[i][0] for i in ids],
        "until": [spans[i][1] for i in ids],
        "at": at,
        "limit": limit,
        "per_service": PER_SERVICE,
        "kind_default": scoring.RISK_CAP_DEFAULT,
        "tau_fast": scoring.TAU_FAST,
        "tau_slow": scoring.TAU_SLOW,
    }


def fetch(at: datetime, weights: dict[int, float], spans: Ranges, limit: int = 400) -> list[Candidate]:
    """Changes on the services of ``spans`` inside each one's [since, until], the best ``limit`` by the
    score's upper bound (``weights``: service id → graph weight). One round trip."""
    if not spans:
        return []
    with transaction.atomic(), connection.cursor() as cur:
        # why serial: the query is a few thousand index-range rows; parallel workers cost more to start than
        # they save, and under load they queue behind other queries
        cur.execute("SET LOCAL max_parallel_workers_per_gather = 0")
        cur.execute(_sql(), query_params(at, weights, spans, limit))
        rows = cur.fetchall()
    return [Candidate(*row) for row in rows]


def by_ids(ids: list[int], service_ids: list[int], lo: datetime, hi: datetime) -> list[Candidate]:
    """Specific changes (those with a verdict on the alert), if on a related service inside the window."""
    if not ids:
        return []
    from changetrack.models import Change

    rows = Change.objects.filter(pk__in=ids, service_id__in=service_ids, occurred_at__gte=lo, occurred_at__lte=hi)
    return [Candidate(**{c: getattr(r, c) for c in COLUMNS}) for r in rows]


def changed_since(spans: Ranges, computed: datetime) -> bool:
    """Whether any change inside ``spans`` was stored or updated after ``computed``."""
    if not spans:
        return False
    ids = sorted(spans)
    with connection.cursor() as cur:
        cur.execute(
            STALE_SQL,
            {
                "ids": ids,
                "since": [spans[i][0] for i in ids],
                "until": [spans[i][1] for i in ids],
                "computed": computed,
            },
        )
        return bool(cur.fetchone()[0])


def explain(at: datetime, weights: dict[int, float], spans: Ranges, limit: int = 400) -> str:
    """EXPLAIN ANALYZE of the candidate query (for the benchmark's note)."""
    with transaction.atomic(), connection.cursor() as cur:
        cur.execute("SET LOCAL max_parallel_workers_per_gather = 0")
        cur.execute("EXPLAIN (ANALYZE, BUFFERS) " + _sql(), query_params(at, weights, spans, limit))
        return "\n".join(r[0] for r in cur.fetchall())
