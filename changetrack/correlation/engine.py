"""Ranking suspects for an alert: graph → candidates → facts → scores with reasons → stored ``Suspect`` rows.

Public functions (called by the API, the pages, the ingest triggers): ``neighbourhood``, ``rank``,
``rank_and_store``, ``current_suspects``. The pieces live in ``graph``, ``candidates``, ``scoring``,
``reasons``, ``grouping``.
"""

from __future__ import annotations

import heapq
import logging
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial

from django.conf import settings
from django.db import connection
from django.utils import timezone

from changetrack.correlation import candidates as cand
from changetrack.correlation import context, events, evidence, graph, grouping, reasons, scoring, suspects, tuning
from changetrack.correlation import model as ranker
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
    direction: str = ""


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


def related(service_id: int) -> dict[int, graph.Relation]:
    """The services whose changes are candidates: the graph's relations, and the unlinked ones (no known edge,
    same team or namespace) with their low prior."""
    return graph.related(service_id)


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
    floor = max(ranked[-1].score, cand.MIN_SCORE) if len(ranked) >= limit else cand.MIN_SCORE
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
    #: per related service, the odds factor bounding how far back its changes can matter (``model.service_term``,
    #: with the health term for a service with an episode or alert in the window)...
    terms: dict[int, float]
    #: ...and the one the candidate query bounds each row with (without it: the query adds it per row, inside
    #: ``health``, the service's window of changes an episode followed)
    row_terms: dict[int, float]
    health: cand.HealthWindows
    model: ranker.Model
    bounds: cand.Bounds
    names: dict[int, str]
    windows: tuple[int, dict[str, int], dict[int, dict[str, int]]]
    episodes: context.Episodes
    verdicts: dict[int, str]
    similar: dict[tuple[int, str], tuple[int, int]]
    #: release key → reached a deploy; filled lazily and shared by every pass of the ranking
    releases: dict[str, bool]
    page: int


def _plan(alert: Alert, limit: int, moment: str | None) -> _Plan:
    """Read the graph, the services' windows, feedback and health episodes around ``alert``."""
    assert alert.service_id is not None
    rels = related(alert.service_id)
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
    model = tuning.current(ctx.verdicts_stamp)
    similar = any(caused for caused, _ in ctx.similar.values())
    limits = bounds(model)
    row_terms = _service_terms(model, rels, lambda rel: model.headroom(similar, False, len(rel.path) > 2))
    health_room = math.exp(limits.health)
    return _Plan(
        at=at,
        longest=longest,
        since=since,
        until=until,
        limit=limit,
        moment=moment,
        rels=rels,
        weights={sid: rel.weight for sid, rel in rels.items()},
        # a service with no episode or alert in the window leaves the health term out of its bound
        terms={sid: term * health_room if sid in episodes else term for sid, term in row_terms.items()},
        row_terms=row_terms,
        health=health_windows(at, episodes),
        model=model,
        bounds=limits,
        names={sid: name for sid, (name, _) in info.items()},
        windows=(default, alert_kinds, per_service),
        episodes=episodes,
        verdicts=ctx.verdicts,
        similar=ctx.similar,
        releases={},
        page=max(PAGE, 8 * limit),
    )


def _service_terms(
    model: ranker.Model, rels: dict[int, graph.Relation], room: Callable[[graph.Relation], float]
) -> dict[int, float]:
    """``model.service_term`` of every related service, each distinct (weight, direction, room) solved once: a hub's
    hundreds of services share a few dozen."""
    known: dict[tuple[float, str, float], float] = {}
    out = {}
    for sid, rel in rels.items():
        key = (rel.weight, rel.direction, room(rel))
        term = known.get(key)
        if term is None:
            term = known[key] = model.service_term(*key)
        out[sid] = term
    return out


def _first_spans(plan: _Plan) -> cand.Ranges:
    """Strongly related services over their whole window, the others over the last ``RECENT_MINUTES``."""
    recent = plan.at - timedelta(minutes=RECENT_MINUTES)
    full = cand.ranges(plan.at, plan.terms, plan.longest, plan.bounds)
    return {
        sid: (since if plan.weights[sid] >= STRONG else max(since, recent), until)
        for sid, (since, until) in full.items()
    }


def _second_spans(plan: _Plan, floor: float) -> cand.Ranges:
    """Weakly related services before the last ``RECENT_MINUTES``, as far back as a change could score ``floor``."""
    recent = plan.at - timedelta(minutes=RECENT_MINUTES)
    weak = {sid: plan.terms[sid] for sid, w in plan.weights.items() if w < STRONG}
    reach = cand.ranges(plan.at, weak, plan.longest, plan.bounds, floor)
    return {sid: (since, recent) for sid, (since, _) in reach.items() if since < recent}


def _rank_more(
    plan: _Plan, base: list[cand.Candidate], spans: cand.Ranges, seen: set[int]
) -> tuple[list[cand.Candidate], list[Ranked]]:
    """Rank ``base`` with the best rows of ``spans`` by upper bound added: a first page, and up to ``PREFETCH``
    only when the page was full and its last bound could still beat the last ranked (most rankings score a few
    dozen rows). Returns the rows added and the ranking.

    The continuation is a second query (the page is the head of the longer list: ties end on the id). With the
    failed and health terms read per row by the query, nearly every ranking of the speed benchmark's busy
    neighbourhoods stops within its page (2 of 60 needed more); reading 400 rows every time cost more than the
    rare second walk."""
    fetched = cand.fetch(plan.at, plan.row_terms, spans, plan.bounds, plan.page, plan.health)
    rows = [r for r in fetched if r.id not in seen]
    ranked = _rank_rows(plan, base + rows)
    if len(fetched) >= plan.page and (len(ranked) < plan.limit or fetched[-1].bound >= ranked[-1].score):
        fetched = cand.fetch(plan.at, plan.row_terms, spans, plan.bounds, max(plan.page, PREFETCH), plan.health)
        rows = [r for r in fetched if r.id not in seen]
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
    return _best(rows, plan, facts)


def bounds(model: ranker.Model) -> cand.Bounds:
    """The candidate query's per-kind factors, time exponent, and the failed and health terms for ``model``."""
    return cand.Bounds(
        kinds=tuple((kind, model.kind_term(kind, cap, False)) for kind, cap in scoring.RISK_CAP.items()),
        default=model.kind_term("", scoring.RISK_CAP_DEFAULT, False),
        exponent=model.weights["time"],
        fresh=model.fresh,
        early=model.early,
        failed=max(0.0, model.weights.get("failed", 0.0)),
        health=max(0.0, model.weights.get("health", 0.0)),
    )


def health_windows(at: datetime, episodes: context.Episodes) -> cand.HealthWindows:
    """Per service with episodes, the changes an episode may count against (``_health_after``: one that started
    within ``HEALTH_AFTER_MINUTES`` after the change): from ``HEALTH_AFTER_MINUTES`` before its first episode to its
    last, in seconds before ``at``."""
    out: cand.HealthWindows = {}
    for sid, items in episodes.items():
        if items:
            first, last = min(e[0] for e in items), max(e[0] for e in items)
            out[sid] = ((at - first).total_seconds() + HEALTH_AFTER_MINUTES * 60, (at - last).total_seconds())
    return out


def _upper_bound(row: cand.Candidate, facts: scoring.Facts) -> float:
    """``row.bound`` (the model's probability at the time envelope, the kind's highest risk and the largest path
    and feedback terms, computed by the candidate query) raised for what the query does not know: a verdict."""
    if facts.verdicts.get(row.id) == "caused":
        return 1.0
    return row.bound


def _ceiling(row: cand.Candidate, rel: graph.Relation, before: float, plan: _Plan, facts: scoring.Facts) -> float:
    """An upper bound of ``row``'s score from what costs nothing to know (its timing, graph weight, feedback and
    health episode) with the largest risk, path and failed terms it could have: a row below the current floor is
    not scored (risk, magnitude and path evidence are most of a row's cost). Exact: those weights are kept at or
    above zero (``model.RANGES``) and ``final_score`` never decreases with the probability. Kept on the row: the
    passes of one ranking (page, continuation, older changes) share their rows and change only the health fact."""
    after = facts.health_after.get(row.id)
    if row.ceiling is not None and row.ceiling[0] == after:
        return row.ceiling[1]
    f, _ = scoring.feedback_score(row.id, row.service_id, row.kind, facts)
    ceiling = ranker.Candidate(
        scoring.time_score(before),
        rel.weight,
        min(scoring.RISK_CAP.get(row.kind, scoring.RISK_CAP_DEFAULT), 1.0),
        scoring.fresh(before),
        evidence.path_evidence(rel.path, row.occurred_at, plan.at, plan.episodes, plan.names, row.kind)[0],
        f if abs(f) < 1 else 0.0,
        row.kind,
        rel.direction,
        scoring.early(before),
        float(row.kind not in scoring.NEVER_FAIL and scoring.rollout_failed(row.status, row.details)),
        scoring.health_fade(after[1]) if after else 0.0,
    )
    value = scoring.final_score(plan.model.probability(ceiling), f)
    row.ceiling = (after, value)
    return value


def _best(rows: list[cand.Candidate], plan: _Plan, facts: scoring.Facts) -> list[Ranked]:
    """Score rows in order of their upper bound and stop once no remaining row can enter the top ``limit``;
    reasons are built for the winners only."""
    rels, at, names, limit, model = plan.rels, plan.at, plan.names, plan.limit, plan.model
    bounded = sorted(((_upper_bound(r, facts), r) for r in rows), key=lambda x: -x[0])
    scored: list[tuple[float, cand.Candidate, dict[str, float], list[str], str, ranker.Candidate | None]] = []
    floor = -1.0
    top: list[float] = []  # min-heap of the best ``limit`` scores
    for bound, row in bounded:
        if len(scored) >= limit and bound < floor:
            break
        rel = rels[row.service_id]
        before = scoring.minutes_between(row.occurred_at, at)
        if len(scored) >= limit and _ceiling(row, rel, before, plan, facts) < floor:
            continue  # whatever its risk, path and status, it cannot enter the top
        t = scoring.time_score(before)
        fresh = scoring.fresh(before)
        risk = scoring.risk(row.kind, row.status, row.summary, row.diff, row.details, row.release_key, row.id, facts)
        f, f_note = scoring.feedback_score(row.id, row.service_id, row.kind, facts)
        path, path_note = evidence.path_evidence(rel.path, row.occurred_at, at, plan.episodes, names, row.kind)
        early = scoring.early(before)
        features = ranker.Candidate(
            t,
            rel.weight,
            risk.value,
            fresh,
            path,
            f if abs(f) < 1 else 0.0,
            row.kind,
            rel.direction,
            early,
            float(risk.failed),
            risk.health,
        )
        score = scoring.final_score(model.probability(features), f)
        components = {
            "time": round(t, 3),
            "fresh": round(fresh, 3),
            "graph": round(rel.weight, 3),
            "risk": round(risk.value, 3),
            "path": round(path, 3),
            "feedback": round(f, 3),
            "early": round(early, 3),
            "failed": float(risk.failed),
            "health": round(risk.health, 3),
        }
        notes = [*risk.notes, path_note] if path_note else risk.notes
        scored.append((score, row, components, notes, f_note, features if abs(f) < 1 else None))
        if len(top) < limit:
            heapq.heappush(top, score)
        elif score > top[0]:
            heapq.heapreplace(top, score)
        if len(top) >= limit:
            floor = top[0]  # the limit-th best so far
    scored.sort(key=lambda x: (-x[0], -x[1].occurred_at.timestamp(), -x[1].id))
    out = []
    for score, row, components, notes, f_note, weighed in scored[:limit]:
        if weighed is not None:  # the model's contributions are worked out for the winners only
            notes = [*notes, *reasons.contributions(model.contributions(weighed))]
        rel = rels[row.service_id]
        minutes = scoring.minutes_between(row.occurred_at, at)
        out.append(
            Ranked(
                row,
                score,
                rel.hops,
                [names.get(i, str(i)) for i in rel.path],
                components,
                reasons.build(row.kind, minutes, rel, names, notes, f_note, plan.moment),
                rel.direction,
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
        [(r.change.id, r.score, r.hops, r.direction, r.path, r.components, r.reasons) for r in ranked],
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
    # an edge between two unlinked services changes nothing for this alert; one touching its graph does
    if graph.new_edges_since(alert.suspects_computed_at, graph.relations(alert.service_id)):
        return True
    rels = related(alert.service_id)
    info = {sid: s for sid, (_, s) in context.services(list(rels)).items()}
    default, alert_kinds, per_service = cand.windows(info.get(alert.service_id) or {}, info)
    longest = max([default, *alert_kinds.values(), *(m for k in per_service.values() for m in k.values())])
    if stored is None:
        stored = list(Suspect.objects.filter(alert=alert).order_by("rank"))
    low = min((s.score for s in stored), default=0.0)
    # a change below the lowest stored score cannot enter the stored list: look only where one could
    floor = low if len(stored) >= STORED and low else cand.MIN_SCORE
    model = tuning.current()
    room = model.headroom(True)  # an upper bound whatever the feedback and the episodes
    terms = {sid: model.service_term(rel.weight, rel.direction, room) for sid, rel in rels.items()}
    return cand.changed_since(
        alert.started_at,
        cand.ranges(alert.started_at, terms, longest, bounds(model), floor),
        alert.suspects_computed_at,
    )


def stands_out_threshold() -> float:
    """The calibrated probability the top suspect must reach to stand out (``model.Model.threshold``)."""
    return tuning.current().threshold


def no_change_stands_out(top_score: float | None) -> bool:
    """True when nothing was ranked or the top suspect is below the calibrated threshold: the alert more
    likely has no change behind it (a disk filling, a vendor outage) than the top suspect caused it."""
    return top_score is None or top_score < stands_out_threshold()


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
