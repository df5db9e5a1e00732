"""The AWS X-Ray service graph as dependency edges: ``GetServiceGraph`` over a recent window.

Each node of ``Services[]`` lists the nodes it called in ``Edges[]`` (by ``ReferenceId``) with the calls counted
in ``SummaryStatistics`` (``TotalCount``; errors are ``ErrorStatistics.TotalCount`` 4xx plus
``FaultStatistics.TotalCount`` 5xx). Edges from the ``client`` node (callers outside the traced services) are
left out. Pages are read to the end (``NextToken``) before edges are made, as an edge may name a node on another
page. Edges are ``integrations.traces.trace_edge`` records like the other trace importers' (storage maps the
names, or keeps them for the unmapped page).
Docs: https://docs.aws.amazon.com/xray/latest/api/API_GetServiceGraph.html
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import datetime, timedelta
from typing import Any

from integrations.aws import clients
from integrations.base import DependencyRecord, PollError, PollResult, PollSession, Secrets
from integrations.traces import trace_edge, window_text

DEFAULT_WINDOW_MINUTES = 60
MAX_WINDOW_MINUTES = 360  # GetServiceGraph answers for at most 6 hours
MAX_PAGES = 50
#: X-Ray node types whose callers depend on a database or on messaging
DATABASE_TYPES = ("AWS::DynamoDB", "AWS::RDS", "Database::", "AWS::ElastiCache", "remote::database")
MESSAGING_TYPES = ("AWS::SQS", "AWS::SNS", "AWS::Kinesis", "AWS::Events")


def enabled(config: Mapping[str, Any]) -> bool:
    return str(config.get("xray") or "").strip().lower() in {"1", "true", "yes", "on"}


def window(config: Mapping[str, Any]) -> timedelta:
    """The ``xray_window_minutes`` setting, within 1..360 (default 60)."""
    try:
        minutes = int(str(config.get("xray_window_minutes") or DEFAULT_WINDOW_MINUTES))
    except ValueError:
        raise PollError("xray_window_minutes must be a whole number of minutes") from None
    return timedelta(minutes=min(max(minutes, 1), MAX_WINDOW_MINUTES))


def poll(
    config: Mapping[str, Any], secrets: Secrets, state: Mapping[str, Any], now: datetime, session: PollSession
) -> Iterator[PollResult]:
    """One step per region: the edges of the graph over the last ``window`` (state is left as it is)."""
    span = window(config)
    for region in clients.regions(config):
        api = clients.client("xray", region, config, secrets, session)
        services: list[Any] = []
        token: str | None = None
        for _ in range(MAX_PAGES):
            request: dict[str, Any] = {"StartTime": now - span, "EndTime": now}
            if token:
                request["NextToken"] = token
            with clients.translated_errors(f"X-Ray {region}", now):
                page = api.get_service_graph(**request)
            services += page.get("Services") or []
            token = page.get("NextToken") or None
            if token is None:
                break
        yield PollResult(edges(services, span), state)


def edges(services: list[Any], span: timedelta) -> list[DependencyRecord]:
    """The dependency records of a service graph's nodes, one per (caller, callee) name pair, counts summed."""
    nodes = {s["ReferenceId"]: s for s in services if isinstance(s, Mapping) and "ReferenceId" in s}
    found: dict[tuple[str, str], list[Any]] = {}
    for node in nodes.values():
        if node.get("Type") == "client" or not node.get("Name"):
            continue
        for edge in node.get("Edges") or []:
            target = nodes.get(edge.get("ReferenceId")) if isinstance(edge, Mapping) else None
            if target is None or not target.get("Name") or target.get("Name") == node["Name"]:
                continue
            stats = edge.get("SummaryStatistics") or {}
            calls, errors = _count(stats, "TotalCount"), _errors(stats)
            entry = found.setdefault((node["Name"], target["Name"]), [0, 0, _connection_type(target)])
            entry[0] += calls
            entry[1] += errors
    made = (
        trace_edge(
            caller, callee, calls, errors=errors, connection_type=kind, window=window_text(span), via="AWS X-Ray"
        )
        for (caller, callee), (calls, errors, kind) in sorted(found.items())
    )
    return [edge for edge in made if edge is not None]


def _count(stats: Any, *path: str) -> int:
    value = stats
    for key in path:
        value = value.get(key) if isinstance(value, Mapping) else None
    return int(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else 0


def _errors(stats: Any) -> int:
    return _count(stats, "ErrorStatistics", "TotalCount") + _count(stats, "FaultStatistics", "TotalCount")


def _connection_type(node: Mapping[str, Any]) -> str:
    kind = str(node.get("Type") or "")
    if kind.startswith(DATABASE_TYPES):
        return "database"
    if kind.startswith(MESSAGING_TYPES):
        return "messaging_system"
    return ""
