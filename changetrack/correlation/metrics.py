"""Delivery metrics (the four DORA keys) per service and per team, from the changes, alerts and verdicts.

- deploy frequency: successful ``deploy`` changes per day over the period;
- lead time: commit → deploy of the same ``release_key`` (the earliest commit of that release), when known;
- change failure rate: deploys that caused an alert (confirmed ``caused``, or ranked #1 for an alert and not
  marked ``unrelated`` for it) over deploys;
- time to restore: alert triggered → resolved, for alerts that started in the period and are resolved.

``delivery_metrics`` returns plain dicts (JSON-ready) for the API and the pages.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from statistics import median
from typing import Any

from changetrack.models import Alert, Change, Feedback, Service, Suspect


def _median(values: list[float]) -> float | None:
    return round(median(values), 1) if values else None


def _failed_deploys(deploy_ids: list[int]) -> set[int]:
    if not deploy_ids:
        return set()
    confirmed = set(
        Feedback.objects.filter(change_id__in=deploy_ids, verdict="caused").values_list("change_id", flat=True)
    )
    dismissed = set(
        Feedback.objects.filter(change_id__in=deploy_ids, verdict="unrelated").values_list("alert_id", "change_id")
    )
    top = {
        (a, c) for a, c in Suspect.objects.filter(change_id__in=deploy_ids, rank=1).values_list("alert_id", "change_id")
    }
    return confirmed | {c for a, c in top if (a, c) not in dismissed}


def _lead_times(deploys: list[tuple[int, int, datetime, str]]) -> dict[int, float]:
    """deploy id → minutes from the release's first commit to the deploy."""
    keys = sorted({k for _, _, _, k in deploys if k})
    if not keys:
        return {}
    first_commit: dict[str, datetime] = {}
    for key, at in Change.objects.filter(release_key__in=keys, kind="commit").values_list("release_key", "occurred_at"):
        if key not in first_commit or at < first_commit[key]:
            first_commit[key] = at
    out = {}
    for did, _sid, at, key in deploys:
        if key in first_commit and first_commit[key] <= at:
            out[did] = (at - first_commit[key]).total_seconds() / 60
    return out


def _summary(
    days: float, deploys: list[int], failed: set[int], leads: list[float], restores: list[float]
) -> dict[str, Any]:
    n = len(deploys)
    n_failed = len([d for d in deploys if d in failed])
    return {
        "deploys": n,
        "deploy_frequency_per_day": round(n / days, 3) if days > 0 else None,
        "lead_time_minutes_median": _median(leads),
        "lead_time_samples": len(leads),
        "failed_deploys": n_failed,
        "change_failure_rate": round(n_failed / n, 3) if n else None,
        "time_to_restore_minutes_median": _median(restores),
        "restored_alerts": len(restores),
    }


def delivery_metrics(
    since: datetime, until: datetime, *, service_ids: list[int] | None = None, team: str | None = None
) -> dict[str, Any]:
    """Metrics over [since, until) per service and per team (only services with a deploy or an alert)."""
    services = Service.objects.all()
    if service_ids is not None:
        services = services.filter(pk__in=service_ids)
    if team:
        services = services.filter(team=team)
    svc = {
        sid: (name, t, ns, cluster or "")
        for sid, name, t, ns, cluster in services.values_list("id", "name", "team", "namespace", "cluster__name")
    }
    days = max((until - since).total_seconds() / 86400, 1e-9)
    # a failed rollout still counts as a deployment attempt (DORA counts attempts)
    deploys = list(
        Change.objects.filter(
            kind="deploy",
            service_id__in=list(svc),
            occurred_at__gte=since,
            occurred_at__lt=until,
        ).values_list("id", "service_id", "occurred_at", "release_key")
    )
    failed = _failed_deploys([d for d, _, _, _ in deploys])
    leads = _lead_times(deploys)
    restores: dict[int, list[float]] = defaultdict(list)
    for sid, start, end in Alert.objects.filter(
        service_id__in=list(svc), started_at__gte=since, started_at__lt=until, resolved_at__isnull=False
    ).values_list("service_id", "started_at", "resolved_at"):
        if end is not None and sid is not None:  # the filter ensures it; the type checker cannot know
            restores[sid].append((end - start).total_seconds() / 60)
    by_service: dict[int, list[int]] = defaultdict(list)
    for did, sid, _, _ in deploys:
        by_service[sid].append(did)
    rows = []
    for sid in sorted(set(by_service) | set(restores), key=lambda s: svc[s][0]):
        ids = by_service.get(sid, [])
        rows.append(
            {
                "service": {"id": sid, "name": svc[sid][0], "namespace": svc[sid][2], "cluster": svc[sid][3]},
                "team": svc[sid][1],
                **_summary(days, ids, failed, [leads[d] for d in ids if d in leads], restores.get(sid, [])),
            }
        )
    teams: dict[str, tuple[list[int], list[float]]] = defaultdict(lambda: ([], []))
    for sid in set(by_service) | set(restores):
        ids, rest = teams[svc[sid][1]]
        ids.extend(by_service.get(sid, []))
        rest.extend(restores.get(sid, []))
    team_rows = [
        {"team": t, **_summary(days, ids, failed, [leads[d] for d in ids if d in leads], rest)}
        for t, (ids, rest) in sorted(teams.items())
    ]
    every_deploy = [d for d, _, _, _ in deploys]
    total = _summary(days, every_deploy, failed, list(leads.values()), [m for ms in restores.values() for m in ms])
    return {
        "since": since.isoformat(),
        "until": until.isoformat(),
        "total": total,
        "daily": _daily(deploys, failed, since, until),
        "services": rows,
        "teams": team_rows,
    }


def _daily(
    deploys: list[tuple[int, int, datetime, str]], failed: set[int], since: datetime, until: datetime
) -> list[dict[str, Any]]:
    """Deploys and failed deploys per UTC day of the period, days without any included."""
    per_day: dict[date, list[int]] = defaultdict(lambda: [0, 0])
    for did, _, at, _ in deploys:
        counts = per_day[at.astimezone(UTC).date()]
        counts[0] += 1
        counts[1] += did in failed
    first, last = since.astimezone(UTC).date(), until.astimezone(UTC).date()
    days = [first + timedelta(days=n) for n in range((last - first).days + 1)]
    return [{"day": d.isoformat(), "deploys": per_day[d][0], "failed": per_day[d][1]} for d in days]
