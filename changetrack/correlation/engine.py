"""Ranking suspects for an alert: graph → candidates → facts → scores with reasons → stored ``Suspect`` rows.

Public functions (called by the API, the pages, the ingest triggers): ``neighbourhood``, ``rank``,
``rank_and_store``, ``current_suspects``. The pieces live in ``graph``, ``candidates``, ``scoring``,
``reasons``, ``grouping``.
"""

from __future__ import annotations

import heapq
import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial

from django.conf import settings
from django.db import connection
from django.utils import timezone

from changetrack.correlation import candidates as cand
from changetrack.correlation import context, events, graph, grouping, reasons, scoring, suspects
from changetrack.correlation.graph import neighbourhood  # noqa: F401 - public, re-exported
from changetrack.models import Alert, Service, Suspect

logger = logging.getLogger(__name__)

HEALTH_AFTER_MINUTES = 30  # an episode starting this soon after a change on the same service counts against it
PAGE = 100  # candidate rows read first (by upper bound)...
PREFETCH = 400  # ...and at most, when the first page could still hold a better one
STRONG = 0.45  # graph weight from which a service's whole window is read at once (self, down 1–3, up 1)
RECENT_MINUTES = 60
STORED = 10  # suspects stored per alert (more when a reader asks for more)


@dataclass
class Ranked:
    change: cand.Candidate
    score: float
    hops: int
    path: list[str]
    components: dict[str, float] = field(default_factory=dict)
    reasons: list[str] = field(default_factory=list)


def _health_after(
    rows: list[cand.Candidate], episodes: dict[int, list[tuple[datetime, str]]]
) -> dict[int, tuple[str, float]]:
    """change id → (reason, minutes) for health episodes that started on the changed service within
    ``HEALTH_AFTER_MINUTES`` after it. An episode counts against the latest change before it only (not
    commits, CI runs or autoscaler steps): that is the one a responder would look at first."""
    by_service: dict[int, list[cand.Candidate]] = {}
    for r in rows:
        if r.kind not in ("commit", "ci", "autoscale") and r.service_id in episodes:
            by_service.setdefault(r.service_id, []).append(r)
    out: dict[int, tuple[str, float]] = {}
    for sid, changes in by_service.items():
        for started, reason in episodes[sid]:
            before = [r for r in changes if r.occurred_at <= started]
            if not before:
                continue
            latest = max(before, key=lambda r: r.occurred_at)
            minutes = scoring.minutes_between(latest.occurred_at, started)
            if minutes <= HEALTH_AFTER_MINUTES and latest.id not in out:
                out[latest.id] = (reason, minutes)
    return out


def _deployed_releases(rows: list[cand.Candidate], lo: datetime, hi: datetime, known: dict[str, bool]) -> set[str]:
    """Release keys of ``rows`` that reached a deploy; ``known`` caches answers across calls of one ranking."""
    for r in rows:
        if r.release_key and r.kind in ("deploy", "rollback"):
            known[r.release_key] = True
    wanted = {r.release_key for r in rows if r.release_key and r.kind in ("commit", "ci")} - set(known)
    if wanted:
        with connection.cursor() as cur:
            # written out so the predicate matches the partial index change_release (release_key <> '')
            cur.execute(
                "SELECT DISTINCT release_key FROM changetrack_change WHERE release_key <> '' "
                "AND release_key = ANY(%s) AND kind IN ('deploy', 'rollback') AND occurred_at >= %s "
                "AND occurred_at <= %s",
                [sorted(wanted), lo, hi],
            )
            found = {row[0] for row in cur.fetchall()}
        known.update({k: k in found for k in wanted})
    return {k for k, v in known.items() if v}


def rank_at(service: Service, at: datetime, limit: int = 10, moment: str | None = reasons.ALERT) -> list[Ranked]:
    """What changed around ``service`` before ``at``, ranked as the suspects of an alert on it at ``at`` would be
    (nothing stored). ``moment`` is what the time reasons count from ("before <moment>"; None: "ago")."""
    probe = Alert(service=service, started_at=at, last_event_at=at, title="")  # never saved
    return rank(probe, limit, moment)


def rank(alert: Alert, limit: int = 10, moment: str | None = reasons.ALERT) -> list[Ranked]:
    """The ranked suspects of ``alert`` (computed, not stored)."""
    if alert.service_id is None:
        return []
    plan = _plan(alert, limit, moment)
    # phase 1: the changes with a verdict, strongly related services over the whole window, the others over
    # the last hour only
    base = cand.by_ids(sorted(plan.verdicts), list(plan.rels), plan.since, plan.until)
    rows, ranked = _rank_more(plan, base, _first_spans(plan), {r.id for r in base})
    base = base + rows
    # phase 2: older changes on weak relations, only as far back as they could still beat the current last
    floor = ranked[-1].score if len(ranked) >= limit else cand.MIN_SCORE
    second = _second_spans(plan, floor)
    if second:
        more, better = _rank_more(plan, base, second, {r.id for r in base})
        if more:
            ranked = better
    return ranked


@dataclass(frozen=True)
class _Plan:
    """What one ranking reads once and its passes share (``since``..``until``: the longest window, skew included)."""

    at: datetime
    longest: int
    since: datetime
    until: datetime
    limit: int
    moment: str | None
    rels: dict[int, graph.Relation]
    weights: dict[int, float]
    names: dict[int, str]
    windows: tuple[int, dict[str, int], dict[int, dict[str, int]]]
    episodes: context.Episodes
    verdicts: dict[int, str]
    similar: dict[tuple[int, str], tuple[int, int]]
    #: release key → reached a deploy; filled lazily and shared by every pass of the ranking
    releases: dict[str, bool]
    #: how far a candidate's upper bound can be raised by similar-alert feedback
    boost: float
    page: int


def _plan(alert: Alert, limit: int, moment: str | None) -> _Plan:
    """Read the graph, the services' windows, feedback and health episodes around ``alert``."""
    assert alert.service_id is not None
    rels = graph.relations(alert.service_id)
    at = alert.started_at
    until = at + timedelta(minutes=settings.CORRELATION_SKEW_MINUTES)
    health_until = until + timedelta(minutes=HEALTH_AFTER_MINUTES)
    lo = at - timedelta(minutes=settings.DEFAULT_CORRELATION_WINDOW_MINUTES)
    ctx = context.read(alert, list(rels), lo, health_until, until)
    info = ctx.services
    alert_settings = info.get(alert.service_id, ("", {}))[1]
    default, alert_kinds, per_service = cand.windows(alert_settings, {sid: s for sid, (_, s) in info.items()})
    longest = max([default, *alert_kinds.values(), *(m for k in per_service.values() for m in k.values())])
    since = at - timedelta(minutes=longest)
    episodes = ctx.episodes
    if since < lo:  # a service configures a longer window than the default
        episodes = context.episodes(alert, list(rels), since, health_until, until)
    return _Plan(
        at=at,
        longest=longest,
        since=since,
        until=until,
        limit=limit,
        moment=moment,
        rels=rels,
        weights={sid: rel.weight for sid, rel in rels.items()},
        names={sid: name for sid, (name, _) in info.items()},
        windows=(default, alert_kinds, per_service),
        episodes=episodes,
        verdicts=ctx.verdicts,
        similar=ctx.similar,
        releases={},
        boost=1.6 if any(caused for caused, _ in ctx.similar.values()) else 1.0,
        page=max(PAGE, 8 * limit),
    )


def _first_spans(plan: _Plan) -> cand.Ranges:
    """Strongly related services over their whole window, the others over the last ``RECENT_MINUTES``."""
    recent = plan.at - timedelta(minutes=RECENT_MINUTES)
    full = cand.ranges(plan.at, plan.weights, plan.longest)
    return {
        sid: (since if plan.weights[sid] >= STRONG else max(since, recent), until)
        for sid, (since, until) in full.items()
    }


def _second_spans(plan: _Plan, floor: float) -> cand.Ranges:
    """Weakly related services before the last ``RECENT_MINUTES``, as far back as a change could score ``floor``."""
    recent = plan.at - timedelta(minutes=RECENT_MINUTES)
    weak = {sid: w for sid, w in plan.weights.items() if w < STRONG}
    reach = cand.ranges(plan.at, weak, plan.longest, floor)
    return {sid: (since, recent) for sid, (since, _) in reach.items() if since < recent}


def _rank_more(
    plan: _Plan, base: list[cand.Candidate], spans: cand.Ranges, seen: set[int]
) -> tuple[list[cand.Candidate], list[Ranked]]:
    """Rank ``base`` with the best rows of ``spans`` by upper bound added: a first page, and up to ``PREFETCH``
    only when the page was full and its last bound could still beat the last ranked (most rankings score a few
    dozen rows). Returns the rows added and the ranking."""
    fetched = cand.fetch(plan.at, plan.weights, spans, plan.page)
    rows = [r for r in fetched if r.id not in seen]
    ranked = _rank_rows(plan, base + rows)
    if len(fetched) >= plan.page and (len(ranked) < plan.limit or fetched[-1].bound * plan.boost >= ranked[-1].score):
        rows = [r for r in cand.fetch(plan.at, plan.weights, spans, PREFETCH) if r.id not in seen]
        ranked = _rank_rows(plan, base + rows)
    return rows, ranked


def _rank_rows(plan: _Plan, rows: list[cand.Candidate]) -> list[Ranked]:
    """The best ``plan.limit`` of ``rows`` that fall inside their kind's window."""
    default, alert_kinds, per_service = plan.windows
    rows = [
        r
        for r in rows
        if scoring.minutes_between(r.occurred_at, plan.at)
        <= cand.window_for(r.kind, r.service_id, default, alert_kinds, per_service)
    ]
    facts = scoring.Facts(
        health_after=_health_after(rows, plan.episodes),
        deployed_releases=scoring.Lazy(partial(_deployed_releases, rows, plan.since, plan.until, plan.releases)),
        verdicts=plan.verdicts,
        similar=plan.similar,
    )
    return _best(rows, plan.rels, plan.at, plan.names, facts, plan.limit, plan.moment)


def _upper_bound(row: cand.Candidate, facts: scoring.Facts) -> float:
    """``row.bound`` (time envelope^0.7 × graph weight × the kind's highest risk, computed by the candidate
    query) raised for what the query does not know: verdicts and similar-alert feedback."""
    if facts.verdicts.get(row.id) == "caused":
        return 1.0
    return row.bound * (1.6 if facts.similar.get((row.service_id, row.kind), (0, 0))[0] else 1.0)


def _best(
    rows: list[cand.Candidate],
    rels: dict[int, graph.Relation],
    at: datetime,
    names: dict[int, str],
    facts: scoring.Facts,
    limit: int,
    moment: str | None = reasons.ALERT,
) -> list[Ranked]:
    """Score rows in order of their upper bound and stop once no remaining row can enter the top ``limit``;
    reasons are built for the winners only."""
    bounded = sorted(((_upper_bound(r, facts), r) for r in rows), key=lambda x: -x[0])
    scored: list[tuple[float, cand.Candidate, dict[str, float], list[str], str]] = []
    floor = -1.0
    top: list[float] = []  # min-heap of the best ``limit`` scores
    for bound, row in bounded:
        if len(scored) >= limit and bound < floor:
            break
        rel = rels[row.service_id]
        t = scoring.time_score(scoring.minutes_between(row.occurred_at, at))
        risk = scoring.risk(row.kind, row.status, row.summary, row.diff, row.details, row.release_key, row.id, facts)
        f, f_note = scoring.feedback_score(row.id, row.service_id, row.kind, facts)
        score = scoring.combine(t, rel.weight, risk.value, f)
        components = {
            "time": round(t, 3),
            "graph": round(rel.weight, 3),
            "risk": round(risk.value, 3),
            "feedback": round(f, 3),
        }
        scored.append((score, row, components, risk.notes, f_note))
        if len(top) < limit:
            heapq.heappush(top, score)
        elif score > top[0]:
            heapq.heapreplace(top, score)
        if len(top) >= limit:
            floor = top[0]  # the limit-th best so far
    scored.sort(key=lambda x: (-x[0], -x[1].occurred_at.timestamp(), -x[1].id))
    out = []
    for score, row, components, notes, f_note in scored[:limit]:
        rel = rels[row.service_id]
        minutes = scoring.minutes_between(row.occurred_at, at)
        out.append(
            Ranked(
                row,
                score,
                rel.hops,
                [names.get(i, str(i)) for i in rel.path],
                components,
                reasons.build(row.kind, minutes, rel, names, notes, f_note, moment),
            )
        )
    return out


def rank_and_store(alert_id: int, limit: int = STORED) -> list[Ranked]:
    """Rank ``alert_id``, replace its stored suspects, and (re)place it in an incident."""
    alert = Alert.objects.filter(pk=alert_id).first()
    return [] if alert is None else _rank_and_store(alert, limit)


def _rank_and_store(alert: Alert, limit: int) -> list[Ranked]:
    """``rank_and_store`` for a loaded alert; updates its ``suspects_computed_at`` and ``incident_id``."""
    started = timezone.now()
    ranked = rank(alert, limit)
    suspects.replace(
        alert.pk,
        started,
        [(r.change.id, r.score, r.hops, r.path, r.components, r.reasons) for r in ranked],
    )
    alert.suspects_computed_at = started
    alert.incident_id = grouping.assign(alert.pk, alert, ranked[0].change.id if ranked else None)
    for _receiver, error in events.suspects_stored.send_robust(sender=Alert, alert_id=alert.pk):
        if isinstance(error, Exception):
            logger.warning("correlation.listener.failed", extra={"alert": alert.pk, "error": repr(error)})
    return ranked


def is_stale(alert: Alert, stored: list[Suspect] | None = None) -> bool:
    """True when suspects were never computed, or a change that could be a candidate (related service,
    inside the window) was stored or updated after they were, or a dependency touching the alert's
    neighbourhood appeared since (it can bring new candidates or a shorter path). ``stored``: the stored suspects, if read."""
    if alert.suspects_computed_at is None:
        return True
    if alert.service_id is None:
        return False
    rels = graph.relations(alert.service_id)
    if graph.new_edges_since(alert.suspects_computed_at, rels):
        return True
    info = {sid: s for sid, (_, s) in context.services(list(rels)).items()}
    default, alert_kinds, per_service = cand.windows(info.get(alert.service_id) or {}, info)
    longest = max([default, *alert_kinds.values(), *(m for k in per_service.values() for m in k.values())])
    if stored is None:
        stored = list(Suspect.objects.filter(alert=alert).order_by("rank"))
    low = min((s.score for s in stored), default=0.0)
    # a change below the lowest stored score cannot enter the stored list: look only where one could
    floor = low if len(stored) >= STORED and low else cand.MIN_SCORE
    weights = {sid: rel.weight for sid, rel in rels.items()}
    return cand.changed_since(
        alert.started_at, cand.ranges(alert.started_at, weights, longest, floor), alert.suspects_computed_at
    )


def current_suspects(alert: Alert, limit: int = 10) -> list[Suspect]:
    """The stored suspects of ``alert``, recomputed first if any change in its window was stored or updated
    since they were computed (late arrivals), or feedback was given. This is what the API and the pages read."""
    never = alert.suspects_computed_at is None  # nothing stored worth reading first
    stored = [] if never else list(Suspect.objects.filter(alert=alert).order_by("rank")[: max(limit, STORED)])
    # a longer list than stored may exist when as many were stored as were asked for last time
    longer = limit > STORED and len(stored) < limit and len(stored) >= STORED
    if never or is_stale(alert, stored) or longer:
        _rank_and_store(alert, max(limit, STORED))
        stored = list(Suspect.objects.filter(alert=alert).order_by("rank")[:limit])
    return stored[:limit]
