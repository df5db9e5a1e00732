"""What every source of a service graph read from traces shares (the Prometheus service-graph metrics, Jaeger,
AWS X-Ray): the edge record they emit. Storage (``changetrack.ingest.dependencies``) maps the names, sets the
confidence from the call volume, keeps names that match no service for the unmapped page and expires edges
no longer seen; a source only says who called whom and how often."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from integrations.base import DependencyRecord, PollError, PollResult, Secrets, ServiceHint, parse_duration

PROVENANCE = "traces"
#: the name a service has in traces is matched by the usual resolution (aliases with key ``name``, the exact
#: name, loose spellings); a source may add keys of its own
MAX_NAME = 253


def trace_edge(
    client: str,
    server: str,
    calls: int,
    *,
    errors: int | None = None,
    connection_type: str = "",
    window: str = "",
    via: str = "",
) -> DependencyRecord | None:
    """``client`` calls ``server``: a dependency of ``client`` on ``server`` with provenance ``traces``, its
    counts and a one-line evidence ("1,234 calls (12 failed) in 1h, database, Tempo service graph"). None when a
    name is empty or both are the same (a service calling itself is no edge)."""
    client, server = client.strip()[:MAX_NAME], server.strip()[:MAX_NAME]
    if not client or not server or client == server:
        return None
    parts = [f"{calls:,} calls" + (f" ({errors:,} failed)" if errors else "") + (f" in {window}" if window else "")]
    parts += [p for p in (connection_type.replace("_", " "), via) if p]
    return DependencyRecord(
        service=ServiceHint(name=client),
        depends_on=ServiceHint(name=server),
        provenance=PROVENANCE,
        evidence=", ".join(parts)[:500],
        calls=max(0, calls),
        errors=None if errors is None else max(0, errors),
        connection_type=connection_type[:40],
    )


def base_url(config: Mapping[str, Any], what: str) -> str:
    """The connection's ``url`` without a trailing slash; ``PollError`` unless it is an http(s) address."""
    url = str(config.get("url") or "").strip().rstrip("/")
    if not url.startswith(("http://", "https://")):
        raise PollError(f"url must be the {what}'s http(s):// address")
    return url


def lookback(config: Mapping[str, Any], default: str) -> timedelta:
    """The connection's ``lookback`` (a Prometheus duration such as 1h); ``PollError`` naming it when malformed."""
    try:
        return parse_duration(str(config.get("lookback") or default))
    except ValueError as exc:
        raise PollError(f"lookback: {exc}") from None


def window_text(window: timedelta) -> str:
    """``1h``, ``90m``, ``1d``: the window as evidence says it."""
    seconds = int(window.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def bearer(secrets: Secrets) -> dict[str, str]:
    """The optional ``token`` as an ``Authorization: Bearer`` header (none when the connection has no token)."""
    token = secrets.get("token")
    return {"Authorization": f"Bearer {token}"} if token else {}


def snapshot(records: list[DependencyRecord], now: datetime, skipped: list[str] | None = None) -> PollResult:
    """The one step of a graph read: the edges, and a state that only records when (and how many)."""
    state = {"polled_at": now.isoformat(), "edges": len(records)}
    return PollResult(records, state, skipped=tuple((skipped or [])[:20]))
