"""Storing health signals as episodes: one open ``HealthEpisode`` per (service, reason), coalesced across pods.

An episode opens with the first subject (pod, node, event) showing the reason, collects the others in
``details.subjects``, and ends when the last subject recovers. Repeated signals only move ``last_seen_at``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from changetrack.ingest.scrubbing import scrubbed_text
from changetrack.models import HealthEpisode, Service
from changetrack.resolution import ServiceResolver
from integrations.base import ServiceHint
from integrations.kubernetes.health import HealthSignal

MAX_SUBJECTS = 100


def store_signals(signals: Sequence[HealthSignal], resolver: ServiceResolver | None = None) -> dict[str, int]:
    """Apply signals in time order; returns counts of episodes opened, closed and touched. Call in or out of a
    transaction; rows are locked with SELECT ... FOR UPDATE so concurrent batches coalesce correctly."""
    resolver = resolver or ServiceResolver()
    counts = {"opened": 0, "closed": 0, "touched": 0}
    with transaction.atomic():
        for sig in sorted(signals, key=lambda s: s.at):
            ident = sig.service
            service = resolver.resolve(
                ServiceHint(
                    name=ident.name,
                    namespace=ident.namespace,
                    cluster=ident.cluster,
                    workload_kind=ident.workload_kind,
                    create=True,
                ),
                "kubernetes",
            )
            if service is None:
                continue
            episode = (
                HealthEpisode.objects.select_for_update()
                .filter(service=service, reason=sig.reason, ended_at__isnull=True)
                .first()
            )
            counts[_apply(episode, service, sig)] += 1
    return counts


def _apply(episode: HealthEpisode | None, service: Service, sig: HealthSignal) -> str:
    if episode is None:
        if not sig.active:
            return "touched"  # recovery of something we never saw start: nothing to end
        HealthEpisode.objects.create(
            service=service,
            reason=sig.reason,
            severity=sig.severity,
            started_at=sig.at,
            last_seen_at=sig.at,
            # an event message can quote a command line or an image URL with its credentials
            summary=scrubbed_text(f"{sig.reason} on {sig.service.name}" + (f": {sig.message}" if sig.message else "")),
            details={"subjects": [sig.subject], "seen_subjects": [sig.subject], "occurrences": 1},
        )
        return "opened"
    details = dict(episode.details)
    subjects = list(details.get("subjects") or [])
    if sig.active:
        if sig.subject not in subjects:
            subjects.append(sig.subject)
        seen = list(details.get("seen_subjects") or [])
        if sig.subject not in seen and len(seen) < MAX_SUBJECTS:
            seen.append(sig.subject)
        details.update(
            subjects=subjects[-MAX_SUBJECTS:], seen_subjects=seen, occurrences=int(details.get("occurrences", 0)) + 1
        )
        episode.details = details
        episode.last_seen_at = max(episode.last_seen_at, sig.at)
        episode.save(update_fields=["details", "last_seen_at"])
        return "touched"
    if sig.subject in subjects:
        subjects.remove(sig.subject)
    details["subjects"] = subjects
    episode.details = details
    fields = ["details"]
    result = "touched"
    if not subjects:
        episode.ended_at = max(sig.at, episode.started_at)
        fields.append("ended_at")
        result = "closed"
    episode.save(update_fields=fields)
    return result


def close_stale(reasons: Sequence[str], quiet: timedelta, now: datetime | None = None) -> int:
    """End open episodes of event-driven ``reasons`` not seen for ``quiet`` (events have no "recovered")."""
    now = now or timezone.now()
    stale = HealthEpisode.objects.filter(reason__in=list(reasons), ended_at__isnull=True, last_seen_at__lt=now - quiet)
    return stale.update(ended_at=F("last_seen_at"))
