"""Candidate changes for an alert: one query over the related services and the correlation window.

The window is the alerting service's ``settings["correlation_window_minutes"]`` (default
``DEFAULT_CORRELATION_WINDOW_MINUTES``), overridden per kind by ``settings["correlation_window_by_kind"]``
(the changed service's setting wins over the alerting service's), plus ``CORRELATION_SKEW_MINUTES`` after the
alert for clocks that disagree.

Speed: a busy neighbourhood holds tens of thousands of changes a day, mostly autoscaler steps. Two bounds
keep the work small: per service, only changes recent enough to still reach ``MIN_SCORE`` given the
service's graph weight are read (an index range scan per service on (service_id, occurred_at), one day
partition or two); and the query orders narrow rows (id, occurred_at, kind) by an upper bound of the final
score (time envelope^0.7 × graph weight × the kind's highest possible risk), then reads the full row of the
best ``limit`` only, by primary key, returning the bound with each so the engine scores in bound order and
stops as soon as no remaining row can enter the top: Python scores dozens of rows, not thousands.
"""

from __future__ import annotations

import functools
import json
import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import connection, transaction

from changetrack.correlation import scoring
from changetrack.models import Change

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
    rows but scores only the few whose upper bound (``bound``, computed in SQL) can still reach the top.
    ``ceiling``: the scorer's tighter bound, kept for the next pass of the same ranking (with the fact it
    depended on)."""

    __slots__ = (*COLUMNS[:10], "_diff", "_details", "release_key", "commit_sha", "bound", "ceiling")

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
        self.id, self.service_id, self.kind, self.occurred_at, self.ended_at = (
            id,
            service_id,
            kind,
            occurred_at,
            ended_at,
        )
        self.summary, self.actor, self.status, self.source, self.external_id = (
            summary,
            actor,
            status,
            source,
            external_id,
        )
        self._diff, self._details = diff, details
        self.release_key, self.commit_sha, self.bound = release_key, commit_sha, bound
        self.ceiling: tuple[object, float] | None = None

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


#: a change whose best possible score (the model's probability at the kind's highest risk, the time envelope and
#: the largest path and feedback terms) is below this is no candidate
MIN_SCORE = 0.005


@dataclass(frozen=True)
class Bounds:
    """How the candidate query bounds a change's odds: ``weights`` (per related service, from ``model.service_term``)
    × ``kinds`` (per kind, ``model.kind_term`` at the kind's highest risk) × time envelope ^ ``exponent``."""

    kinds: tuple[tuple[str, float], ...]
    default: float
    exponent: float
    #: the ranker's ``fresh`` weight: × e^(fresh · e^(−minutes/FRESH_TAU)) on top
    fresh: float = 0.0
    #: the ranker's ``early`` weight (≤ 0): × e^(early · e^(−minutes/EARLY_TAU)) in the candidate query's per-row
    #: bound (left out of ``reach_minutes``, where leaving out a factor ≤ 1 only reaches further)
    early: float = 0.0
    #: the ranker's ``failed`` weight (≥ 0): × e^failed for a row whose status or ``details.rollout.status`` says
    #: it failed (the kinds of ``scoring.NEVER_FAIL`` excepted), read by the query itself
    failed: float = 0.0
    #: the ranker's ``health`` weight (≥ 0): × e^health for a row inside its service's health window (see ``fetch``)
    health: float = 0.0

    @property
    def top_kind(self) -> float:
        """The largest kind factor with the ``failed`` term: how far back any row can reach (``ranges``)."""
        return max([self.default, *(v for _, v in self.kinds)]) * math.exp(self.failed)


#: per related service: its id, graph weight, and the span to read as minutes before the alert ([since, until];
#: until is negative for the clock-skew allowance after it). The arrays travel as text literals: psycopg dumps
#: a Python list element by element, which for 500 services costs more than the query's index work.
RELATED = """
WITH rel(service_id, weight, since_m, until_m) AS (
  SELECT * FROM unnest(%(ids)s::bigint[], %(weights)s::float8[], %(since_m)s::float8[], %(until_m)s::float8[]))"""

#: the candidate query's services also carry their health window, in seconds before the alert: a change inside
#: it may be followed by an episode or alert on its service (its ``health`` term), one outside cannot
RELATED_HEALTH = """
WITH rel(service_id, weight, since_m, until_m, health_since_s, health_until_s) AS (
  SELECT * FROM unnest(%(ids)s::bigint[], %(weights)s::float8[], %(since_m)s::float8[], %(until_m)s::float8[],
                       %(health_since_s)s::float8[], %(health_until_s)s::float8[]))"""

#: OFFSET 0 keeps the lateral subquery from being flattened into a join: the planner then walks the
#: (service_id, occurred_at) index once per related service (a nested loop) instead of hashing whole day
#: partitions, and with no per-service sort or cap (a cap of the newest N rows would let a busy autoscaler
#: hide an older deploy of the same service).
#: Ties end on the id, so that the first rows of a longer list are the rows of a shorter one (the engine reads
#: a page and its continuation in one query).
#: Two steps: rank narrow rows (id, occurred_at, kind) by the score's upper bound, then read the full row of
#: the best ``limit`` only (by primary key); the upper bound takes the minutes before the alert from
#: date_part (float8; EXTRACT returns numeric, whose exp() is arbitrary precision and far slower), once per row
#: in the lateral subquery (``age_s``, seconds before the alert) rather than once per term of the bound.
#: The narrow step reads only what the index ``change_service_cover`` holds (id, kind, status with the service
#: and time), so most rows never visit the table: a failed rollout is known from the status alone (ingest stores
#: "failed" when only ``details.rollout.status`` said so: ``ingest.changes.stored_status``)
SQL = (
    RELATED_HEALTH
    + """,
top AS (
  SELECT c.id, c.occurred_at, rel.weight
    * (CASE c.kind {kind_cases} ELSE %(kind_default)s::float8 END)
    * (CASE WHEN c.age_s <= rel.health_since_s AND c.age_s >= rel.health_until_s
       THEN %(health_factor)s::float8 ELSE 1.0 END)
    * (CASE WHEN c.failed THEN %(failed_factor)s::float8 ELSE 1.0 END)
    * power(0.75 * exp(-c.age_s / %(tau_fast_s)s)
       + 0.25 * exp(-c.age_s / %(tau_slow_s)s),
       %(exponent)s::float8)
    * exp(%(fresh)s::float8 * exp(-c.age_s / %(fresh_tau_s)s)
       + %(early)s::float8 * exp(-c.age_s / %(early_tau_s)s))
    AS bound
  FROM rel CROSS JOIN LATERAL (
    SELECT c.id, c.occurred_at, c.kind, GREATEST(%(at_epoch)s - date_part('epoch', c.occurred_at), 0.0) AS age_s,
      c.kind <> ALL(%(never_fail)s::text[]) AND lower(c.status) = ANY(%(failed_states)s::text[]) AS failed
    FROM changetrack_change c
    WHERE c.service_id = rel.service_id
      AND c.occurred_at >= %(at)s - rel.since_m * interval '1 minute'
      AND c.occurred_at <= %(at)s - rel.until_m * interval '1 minute'
    OFFSET 0) c
  ORDER BY bound DESC, c.occurred_at DESC, c.id DESC
  LIMIT %(limit)s)
SELECT {columns}, top.bound
FROM top JOIN changetrack_change c ON c.id = top.id AND c.occurred_at = top.occurred_at
ORDER BY top.bound DESC, top.occurred_at DESC, top.id DESC
"""
)

STALE_SQL = (
    RELATED
    + """
SELECT EXISTS (
  SELECT 1 FROM rel CROSS JOIN LATERAL (
    SELECT 1 FROM changetrack_change c
    WHERE c.service_id = rel.service_id
      AND c.occurred_at >= %(at)s - rel.since_m * interval '1 minute'
      AND c.occurred_at <= %(at)s - rel.until_m * interval '1 minute'
      AND c.updated_at > %(computed)s LIMIT 1) c)
"""
)


SERIAL = "SET LOCAL max_parallel_workers_per_gather = 0;\n"


def array(values: Any) -> str:
    """A PostgreSQL array literal of numbers (``'{1,2,3}'``), to pass as one text parameter."""
    return "{" + ",".join(map(repr, values)) + "}"


def _sql(bounds: Bounds) -> str:
    # float8 throughout: EXTRACT returns numeric, and exp() on numeric is arbitrary precision (far slower)
    cases = " ".join(f"WHEN '{kind}' THEN {float(term)!r}::float8" for kind, term in bounds.kinds)
    # diff and details as text: decoded in Python only for the rows that get scored
    columns = ", ".join(f"c.{c}::text" if c in ("diff", "details") else f"c.{c}" for c in COLUMNS)
    return SQL.format(columns=columns, kind_cases=cases)


Ranges = dict[int, tuple[datetime, datetime]]


def reach_minutes(weight: float, window_minutes: int, floor: float, exponent: float, fresh: float = 0.0) -> float:
    return _reach(float(f"{weight:.5g}"), window_minutes, float(f"{floor:.5g}"), round(exponent, 4), round(fresh, 4))


def _decay(minutes: float, exponent: float, fresh: float) -> float:
    """The bound's time factor: envelope^exponent × e^(fresh · e^(−minutes/FRESH_TAU)); decreasing."""
    return scoring.envelope(minutes) ** exponent * math.exp(fresh * math.exp(-minutes / scoring.FRESH_TAU))


@functools.lru_cache(maxsize=4096)  # few distinct weights (direction × hops × confidence): solve each once
def _reach(weight: float, window_minutes: int, floor: float, exponent: float, fresh: float) -> float:
    """How far back a change on a service whose odds are at most ``weight`` × envelope^``exponent`` can still
    reach odds ``floor``: weakly related services (siblings through a shared hub, 3 hops up) only matter for
    recent changes. Exact, not a heuristic: the time envelope decreases; verdicts on the alert itself are
    fetched separately (``by_ids``), whatever their age."""
    if weight <= 0:
        return 0.0
    need = max(floor, 1e-12) / weight
    if _decay(window_minutes, exponent, fresh) >= need:
        return float(window_minutes)
    if _decay(0, exponent, fresh) < need:
        return 0.0
    lo, hi = 0.0, float(window_minutes)
    for _ in range(30):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if _decay(mid, exponent, fresh) >= need else (lo, mid)
    return lo


def ranges(
    at: datetime, weights: dict[int, float], window_minutes: int, bounds: Bounds, floor: float = MIN_SCORE
) -> Ranges:
    """service id → [since, until]: the part of the window where a change on it can still score ``floor`` (a
    probability; ``weights``: service terms as in ``Bounds``)."""
    hi = at + timedelta(minutes=settings.CORRELATION_SKEW_MINUTES)
    out = {}
    floor_odds = max(floor, 1e-9) / max(1 - floor, 1e-9)
    top_kind = bounds.top_kind  # a property: computed once, not once per service
    reach_by_weight: dict[float, float] = {}  # hundreds of services share a few dozen terms
    for sid, w in weights.items():
        reach = reach_by_weight.get(w)
        if reach is None:
            reach = reach_minutes(w * top_kind, window_minutes, floor_odds, bounds.exponent, bounds.fresh)
            reach_by_weight[w] = reach
        if reach > 0 or floor <= MIN_SCORE:
            out[sid] = (at - timedelta(minutes=reach), hi)
    return out


def span_params(at: datetime, spans: Ranges, weights: dict[int, float] | None = None) -> dict[str, Any]:
    ids = sorted(spans)
    return {
        "ids": array(ids),
        "weights": array(float(weights[i]) for i in ids) if weights is not None else array(0.0 for _ in ids),
        "since_m": array((at - spans[i][0]).total_seconds() / 60 for i in ids),
        "until_m": array((at - spans[i][1]).total_seconds() / 60 for i in ids),
        "at": at,
    }


#: per service, the changes that may get a ``health`` term: [since, until] in seconds before the alert
HealthWindows = dict[int, tuple[float, float]]
NO_HEALTH = (-1.0, 0.0)  # an empty window (no age is at most -1)


def query_params(
    at: datetime,
    weights: dict[int, float],
    spans: Ranges,
    limit: int,
    bounds: Bounds,
    health: HealthWindows | None = None,
) -> dict[str, Any]:
    ids = sorted(spans)
    windows = [(health or {}).get(i, NO_HEALTH) for i in ids]
    return {
        **span_params(at, spans, weights),
        "health_since_s": array(w[0] for w in windows),
        "health_until_s": array(w[1] for w in windows),
        "health_factor": math.exp(bounds.health),
        "failed_factor": math.exp(bounds.failed),
        "failed_states": sorted(scoring.FAILED),
        "never_fail": sorted(scoring.NEVER_FAIL),
        "at_epoch": at.timestamp(),
        "limit": limit,
        "kind_default": bounds.default,
        "exponent": bounds.exponent,
        "fresh": bounds.fresh,
        "fresh_tau_s": scoring.FRESH_TAU * 60,
        "early": bounds.early,
        "early_tau_s": scoring.EARLY_TAU * 60,
        "tau_fast_s": scoring.TAU_FAST * 60,
        "tau_slow_s": scoring.TAU_SLOW * 60,
    }


def fetch(
    at: datetime,
    weights: dict[int, float],
    spans: Ranges,
    bounds: Bounds,
    limit: int = 400,
    health: HealthWindows | None = None,
) -> list[Candidate]:
    """Changes on the services of ``spans`` inside each one's [since, until], the best ``limit`` by the
    score's upper bound (``weights``: service id → service term without the health term, see ``Bounds``; the
    health term applies to the rows inside their service's ``health`` window, none without one), each with that
    bound as a probability. One round trip."""
    if not spans:
        return []
    with connection.cursor() as cur:
        # why serial: the query is a few thousand index-range rows; parallel workers cost more to start than
        # they save, and under load they queue behind other queries. Sent with the query in one string (one
        # round trip; several statements in one string run as one transaction, so SET LOCAL holds)
        cur.execute(SERIAL + _sql(bounds), query_params(at, weights, spans, limit, bounds, health))
        if cur.description is None:
            cur.nextset()
        rows = cur.fetchall()
    out = []
    for row in rows:
        c = Candidate(*row[:-1])
        c.bound = row[-1] / (1 + row[-1])  # odds → probability
        out.append(c)
    return out


def by_ids(ids: list[int], service_ids: list[int], lo: datetime, hi: datetime) -> list[Candidate]:
    """Specific changes (those with a verdict on the alert), if on a related service inside the window."""
    if not ids:
        return []
    rows = Change.objects.filter(pk__in=ids, service_id__in=service_ids, occurred_at__gte=lo, occurred_at__lte=hi)
    return [Candidate(**{c: getattr(r, c) for c in COLUMNS}) for r in rows]


def changed_since(at: datetime, spans: Ranges, computed: datetime) -> bool:
    """Whether any change inside ``spans`` was stored or updated after ``computed``."""
    if not spans:
        return False
    with connection.cursor() as cur:
        cur.execute(STALE_SQL, {**span_params(at, spans), "computed": computed})
        return bool(cur.fetchone()[0])


def explain(
    at: datetime,
    weights: dict[int, float],
    spans: Ranges,
    bounds: Bounds,
    limit: int = 400,
    health: HealthWindows | None = None,
) -> str:
    """EXPLAIN ANALYZE of the candidate query (for the benchmark's note)."""
    with transaction.atomic(), connection.cursor() as cur:
        cur.execute("SET LOCAL max_parallel_workers_per_gather = 0")
        params = query_params(at, weights, spans, limit, bounds, health)
        cur.execute("EXPLAIN (ANALYZE, BUFFERS) " + _sql(bounds), params)
        return "\n".join(r[0] for r in cur.fetchall())
