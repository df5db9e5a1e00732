"""What a ranking needs to know beyond the candidate changes, read in one round trip: the neighbourhood's
names and settings, feedback (verdicts on the alert, verdicts on similar alerts), and health episodes and
other alerts on the neighbourhood's services.

The three queries travel as one string (psycopg with client-side binding sends it as one message; each
statement's result is read in turn): under load every round trip waits for the server to be scheduled again.
Service ids travel as one array literal (an IN list of hundreds of parameters costs more to bind than to run).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.db import connection
from django.utils import timezone

from changetrack.correlation import candidates as cand
from changetrack.correlation import tuning
from changetrack.models import Alert, Change

SIMILAR_FEEDBACK_DAYS = 180

#: empty settings (most services) come back as NULL: nothing to decode
SERVICES_SQL = (
    "SELECT id, name, NULLIF(settings, '{}'::jsonb) FROM changetrack_service WHERE id = ANY(%(ids)s::bigint[]);\n"
)

FEEDBACK_SQL = """
(SELECT change_id, verdict, true, false FROM changetrack_feedback WHERE alert_id = %(alert)s)
UNION ALL
(SELECT f.change_id, f.verdict, false, a.title = %(title)s
 FROM changetrack_feedback f JOIN changetrack_alert a ON a.id = f.alert_id
 WHERE a.service_id = %(service)s AND f.created_at >= %(since)s AND f.alert_id <> %(alert)s
 LIMIT 500);
"""

#: health episodes, and other alerts (they count like health episodes: a change followed within minutes by an
#: alert on its own service is a stronger suspect for this alert too)
EPISODES_SQL = """
SELECT service_id, started_at, reason FROM changetrack_healthepisode
WHERE service_id = ANY(%(ids)s::bigint[]) AND started_at >= %(lo)s AND started_at <= %(hi_episodes)s
UNION ALL (
  SELECT service_id, started_at, 'Alert \u201c' || left(title, 80) || '\u201d' FROM changetrack_alert
  WHERE service_id = ANY(%(ids)s::bigint[]) AND started_at >= %(lo)s AND started_at <= %(hi_alerts)s
    AND id <> %(alert)s
  LIMIT 2000)
ORDER BY 2;
"""

Episodes = dict[int, list[tuple[datetime, str]]]


@dataclass
class Context:
    services: dict[int, tuple[str, dict[str, Any]]] = field(default_factory=dict)
    #: change id → verdict on this very alert
    verdicts: dict[int, str] = field(default_factory=dict)
    #: (changed service, kind) → (caused, unrelated) on other alerts of the same service
    similar: dict[tuple[int, str], tuple[int, int]] = field(default_factory=dict)
    #: service id → [(started, reason)] oldest first, from ``episodes_since``
    episodes: Episodes = field(default_factory=dict)
    episodes_since: datetime | None = None
    #: the verdicts' version, for ``tuning.current``
    verdicts_stamp: tuning.Stamp | None = None


def _settings(raw: Any) -> dict[str, Any]:
    value = json.loads(raw) if isinstance(raw, str | bytes) else raw  # Django's psycopg setup gives jsonb as text
    return value if isinstance(value, dict) else {}


def services(ids: list[int]) -> dict[int, tuple[str, dict[str, Any]]]:
    """id → (name, settings)."""
    with connection.cursor() as cur:
        cur.execute(SERVICES_SQL, {"ids": cand.array(ids)})
        return {sid: (name, _settings(raw)) for sid, name, raw in cur.fetchall()}


def read(alert: Alert, ids: list[int], lo: datetime, hi_episodes: datetime, hi_alerts: datetime) -> Context:
    """Services ``ids``, feedback for ``alert``, episodes in [``lo``, ``hi_*``] and the verdicts' stamp, in one
    round trip."""
    params: dict[str, Any] = {
        **tuning.stamp_params(),
        "ids": cand.array(ids),
        "alert": alert.pk or 0,
        "title": alert.title,
        "service": alert.service_id,
        "since": timezone.now() - timedelta(days=SIMILAR_FEEDBACK_DAYS),
        "lo": lo,
        "hi_episodes": hi_episodes,
        "hi_alerts": hi_alerts,
    }
    ctx = Context(episodes_since=lo)
    with connection.cursor() as cur:
        cur.execute(SERVICES_SQL + FEEDBACK_SQL + EPISODES_SQL + tuning.STAMP_SQL, params)
        ctx.services = {sid: (name, _settings(raw)) for sid, name, raw in cur.fetchall()}
        cur.nextset()
        feedback = cur.fetchall()
        cur.nextset()
        ctx.episodes = _by_service(cur.fetchall())
        cur.nextset()
        ctx.verdicts_stamp = tuning.stamp_from(params, cur.fetchone())
    ctx.verdicts = {cid: verdict for cid, verdict, own, _ in feedback if own}
    ctx.similar = _similar([(cid, verdict, same) for cid, verdict, own, same in feedback if not own])
    return ctx


def episodes(alert: Alert, ids: list[int], lo: datetime, hi_episodes: datetime, hi_alerts: datetime) -> Episodes:
    """Episodes alone (when a service configures a window longer than the one ``read`` covered)."""
    params: dict[str, Any] = {"ids": cand.array(ids), "alert": alert.pk or 0, "lo": lo, "hi_episodes": hi_episodes}
    with connection.cursor() as cur:
        cur.execute(EPISODES_SQL, {**params, "hi_alerts": hi_alerts})
        return _by_service(cur.fetchall())


def _by_service(rows: list[tuple[int, datetime, str]]) -> Episodes:
    out: Episodes = {}
    for sid, started, reason in rows:
        out.setdefault(sid, []).append((started, reason))
    return out


def _similar(rows: list[tuple[int, str, bool]]) -> dict[tuple[int, str], tuple[int, int]]:
    """Verdicts on other alerts of the service by (changed service, kind); one with the same title counts twice."""
    if not rows:
        return {}
    kinds = {
        cid: (sid, kind)
        for cid, sid, kind in Change.objects.filter(pk__in=sorted({cid for cid, _, _ in rows})).values_list(
            "id", "service_id", "kind"
        )
        if sid is not None
    }
    out: dict[tuple[int, str], tuple[int, int]] = {}
    for cid, verdict, same_title in rows:
        if cid not in kinds:
            continue
        weight = 2 if same_title else 1
        caused, unrelated = out.get(kinds[cid], (0, 0))
        out[kinds[cid]] = (caused + weight, unrelated) if verdict == "caused" else (caused, unrelated + weight)
    return out
