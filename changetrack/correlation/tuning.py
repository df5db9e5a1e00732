"""The ranker this installation uses: the shipped weights, refitted from its responders' verdicts.

A verdict is the best label the system gets. Once there are ``FLOOR`` verdicts (``MIN_CAUSED`` of them "caused"),
the model is refitted (``model.fit``) on the suspects of the alerts that have verdicts: a change marked "caused"
is a positive, one marked "unrelated" a negative, and the other suspects of an alert whose cause was confirmed
are negatives too (they were not the cause). The features are the stored components, so the refit learns what
matters here: which kinds, which directions and distances, which time profile. The shipped weights are the
prior (``STRENGTH``): a few verdicts move it a little, hundreds move it more.

A ``Feedback`` row is the current verdict (a verdict undone is a row deleted): the cache key is the verdicts'
count, highest id and number of "caused"; a deletion or a flipped verdict refits on the next ranking, new
verdicts every ``REFIT_EVERY`` (or a tenth more).
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import connection
from django.utils import timezone

from changetrack.correlation import graph
from changetrack.correlation import model as ranker
from changetrack.models import Alert, Change, Feedback, Suspect

logger = logging.getLogger(__name__)

FLOOR = 20  # verdicts before the ranker moves from the shipped weights
MIN_CAUSED = 5
#: precision of the prior centred on the shipped weights: a few hundred verdicts, picked from the top of earlier
#: rankings, say little about the shape of time or distance (they were fitted on thousands of labelled
#: incidents) and much about which kinds and which directions cause this installation's incidents
STRENGTH = ranker.strengths(shape=100.0, local=0.2)
DAYS = 180  # verdicts older than this no longer teach
MAX_ALERTS = 2000
REFIT_EVERY = 5  # new verdicts before the next refit (each process refits on its next ranking)

_lock = threading.Lock()
_cache: tuple[tuple[int, int, int], ranker.Model] | None = None

#: the verdicts' version: count, highest id, number "caused" (``stamp_params`` gives its parameter)
STAMP_SQL = """
SELECT count(id), COALESCE(max(id), 0), count(id) FILTER (WHERE verdict = 'caused')
FROM changetrack_feedback WHERE created_at >= %(verdicts_since)s;
"""


@dataclass(frozen=True)
class Stamp:
    """The verdicts' version as of one reading: those created since ``since`` (the last ``DAYS``)."""

    since: datetime
    key: tuple[int, int, int]


def stamp_params() -> dict[str, Any]:
    return {"verdicts_since": timezone.now() - timedelta(days=DAYS)}


def stamp_from(params: dict[str, Any], row: tuple[int, int, int]) -> Stamp:
    """The ``Stamp`` read by ``STAMP_SQL`` with ``params`` (from ``stamp_params``) that returned ``row``."""
    return Stamp(params["verdicts_since"], (row[0], row[1], row[2]))


def read_stamp() -> Stamp:
    params = stamp_params()
    with connection.cursor() as cur:
        cur.execute(STAMP_SQL, params)
        return stamp_from(params, cur.fetchone())


def current(stamp: Stamp | None = None) -> ranker.Model:
    """The model to rank with: a refit only when the verdicts changed (``stamp``: read with the caller's other
    queries, see ``context.read``; read here, one aggregate query, when not given)."""
    global _cache
    stamp = read_stamp() if stamp is None else stamp
    since, key = stamp.since, stamp.key
    cached = _cache
    if cached is not None and (cached[0] == key or _close(cached[0], key)):
        return cached[1]
    with _lock:
        model = ranker.shipped()
        if key[0] >= FLOOR and key[2] >= MIN_CAUSED:
            samples = verdict_samples(since)
            if sum(y for _, y in samples) >= MIN_CAUSED:
                model = ranker.fit(samples, ranker.shipped(), STRENGTH, verdicts=key[0])
                logger.info("correlation.model.refitted", extra={"verdicts": key[0], "samples": len(samples)})
        _cache = (key, model)
    return model


def _close(fitted: tuple[int, int, int], now: tuple[int, int, int]) -> bool:
    """Whether the model fitted at ``fitted`` still stands at ``now``: verdicts were only added, fewer than
    ``REFIT_EVERY`` (or a tenth of those fitted from) since. A deletion (an undo) or a flipped verdict refits at once."""
    n0, top0, caused0 = fitted
    n1, top1, caused1 = now
    added = n1 - n0
    if added < 0 or top1 < top0 or caused1 < caused0 or (n0 < FLOOR <= n1):
        return False
    return added < max(REFIT_EVERY, n0 // 10) and caused1 - caused0 <= added


def verdict_samples(since: object) -> list[tuple[ranker.Candidate, int]]:
    """(candidate features, label) from the stored suspects of alerts with verdicts (see the module docstring)."""
    verdicts: dict[int, dict[int, str]] = {}
    for alert_id, change_id, verdict in (
        Feedback.objects.filter(created_at__gte=since)
        .order_by("-id")
        .values_list("alert_id", "change_id", "verdict")[: MAX_ALERTS * 3]
    ):
        verdicts.setdefault(alert_id, {})[change_id] = verdict
    rows = list(Suspect.objects.filter(alert_id__in=list(verdicts)).values_list("alert_id", "change_id", "components"))
    kinds = dict(
        (cid, (kind, sid))
        for cid, kind, sid in Change.objects.filter(pk__in={c for _, c, _ in rows}).values_list(
            "id", "kind", "service_id"
        )
    )
    services = dict(Alert.objects.filter(pk__in=list(verdicts)).values_list("id", "service_id"))
    out: list[tuple[ranker.Candidate, int]] = []
    for alert_id, change_id, components in rows:
        mine = verdicts[alert_id]
        if change_id in mine:
            label = 1 if mine[change_id] == "caused" else 0
        elif "caused" in mine.values():
            label = 0
        else:
            continue  # no cause known for this alert: the other suspects are not labelled
        if change_id not in kinds or not isinstance(components, dict):
            continue
        kind, changed = kinds[change_id]
        rel = graph.relations(services[alert_id]).get(changed) if services.get(alert_id) else None
        feedback = float(components.get("feedback", 0.0))
        out.append(
            (
                ranker.Candidate(
                    time=float(components.get("time", 0.0)),
                    graph=float(components.get("graph", 0.0)),
                    risk=float(components.get("risk", 0.0)),
                    fresh=float(components.get("fresh", 0.0)),
                    path=float(components.get("path", 0.0)),
                    similar=feedback if abs(feedback) < 1 else 0.0,
                    kind=kind,
                    direction=rel.direction if rel is not None else graph.NONE,  # ranked without a known edge
                    early=float(components.get("early", 0.0)),
                    failed=float(components.get("failed", 0.0)),
                    health=float(components.get("health", 0.0)),
                ),
                label,
            )
        )
    return out
