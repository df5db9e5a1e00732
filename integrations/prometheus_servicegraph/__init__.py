"""Dependencies from traces through the service-graph metrics (OpenTelemetry Collector ``servicegraph``
connector, Tempo's metrics generator), read from Prometheus (or anything speaking its HTTP API: Mimir, Thanos,
VictoriaMetrics).

The counters ``<prefix>_request_total{client, server, connection_type}`` and ``<prefix>_request_failed_total``
(prefix ``traces_service_graph`` unless a namespace was configured) are summed over ``lookback`` with two instant
queries, ``sum by (client, server, connection_type) (increase(<counter>[<lookback>]))``, through
``GET /api/v1/query``. Each (client, server) pair with at least ``min_calls`` calls becomes an edge "client
depends on server". ``connection_type`` is empty for a plain call, ``database`` or ``messaging_system``.
Docs: https://prometheus.io/docs/prometheus/latest/querying/api/#instant-queries ·
https://grafana.com/docs/tempo/latest/metrics-generator/service_graphs/
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Mapping
from datetime import datetime, timedelta
from typing import Any

from integrations import traces
from integrations.base import (
    ConfigField,
    DependencyRecord,
    PollError,
    PollResult,
    PollSession,
    PullSource,
    Secrets,
    answer_json,
    read_json,
)
from integrations.traces import trace_edge

DEFAULT_PREFIX = "traces_service_graph"
DEFAULT_LOOKBACK = "1h"
QUERY = "sum by (client, server, connection_type) (increase({metric}[{lookback}]))"
_METRIC_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
#: a Prometheus answer larger than this many series is a query gone wrong (or a graph we should not hold whole)
MAX_SERIES = 50_000


def settings_of(config: Mapping[str, Any]) -> tuple[str, str, timedelta, int]:
    """(base URL, metric prefix, lookback, min_calls) from a connection's config; ``PollError`` naming the field."""
    url = traces.base_url(config, "Prometheus server")
    prefix = str(config.get("metric_prefix") or DEFAULT_PREFIX).strip()
    if not _METRIC_NAME.fullmatch(prefix):
        raise PollError(f"metric_prefix {prefix[:60]!r} is not a Prometheus metric name")
    lookback = traces.lookback(config, DEFAULT_LOOKBACK)
    raw = str(config.get("min_calls") or "1").strip()
    if not raw.isdigit():
        raise PollError(f"min_calls {raw[:20]!r} is not a whole number")
    return url, prefix, lookback, int(raw)


def query(
    session: PollSession, url: str, promql: str, now: datetime, headers: Mapping[str, str]
) -> dict[tuple[str, str, str], float]:
    """One instant query at ``now``: (client, server, connection_type) → value. ``PollError`` for a refused query
    (``status: error`` with its ``errorType`` and ``error``) or an answer that is not a vector; ``RateLimited``
    for a 429 or a 5xx the session's retries did not cure."""
    endpoint = f"{url}/api/v1/query"
    response = session.get(endpoint, params={"query": promql, "time": f"{now.timestamp():.3f}"}, headers=headers)
    if response.status_code in (400, 422):  # Prometheus explains a bad query in a JSON body
        try:
            body = answer_json(response, label="Prometheus", url=endpoint)
        except PollError:
            body = {}
        if isinstance(body, dict) and body.get("status") == "error":
            raise PollError(f"Prometheus refused the query ({body.get('errorType')}): {str(body.get('error'))[:300]}")
    body = read_json(response, now=now, label="Prometheus", url=endpoint)
    if not isinstance(body, dict) or body.get("status") != "success":
        error = body.get("error") if isinstance(body, dict) else None
        raise PollError(f"Prometheus answered without success: {str(error or body)[:300]}")
    data = body.get("data")
    if not isinstance(data, dict) or data.get("resultType") != "vector" or not isinstance(data.get("result"), list):
        raise PollError("Prometheus answered with something other than an instant vector")
    if len(data["result"]) > MAX_SERIES:
        raise PollError(f"Prometheus answered {len(data['result'])} series; at most {MAX_SERIES} are read")
    out: dict[tuple[str, str, str], float] = {}
    for sample in data["result"]:
        metric = sample.get("metric") if isinstance(sample, dict) else None
        value = sample.get("value") if isinstance(sample, dict) else None
        if not isinstance(metric, dict) or not isinstance(value, list) or len(value) != 2:
            continue
        try:
            number = float(value[1])
        except (TypeError, ValueError):
            continue
        if math.isfinite(number):
            key = (
                str(metric.get("client") or ""),
                str(metric.get("server") or ""),
                str(metric.get("connection_type") or ""),
            )
            out[key] = out.get(key, 0.0) + number
    return out


class PrometheusServiceGraphIntegration(PullSource):
    slug = "prometheus-servicegraph"
    label = "Prometheus service graph (OpenTelemetry, Tempo)"
    emits = ("dependencies",)
    poll_interval = timedelta(minutes=10)
    config_fields = (
        ConfigField("url", "Prometheus URL", required=True, help="e.g. http://prometheus.monitoring:9090"),
        ConfigField("token", "Bearer token", secret=True, help="Optional: sent as Authorization: Bearer."),
        ConfigField(
            "metric_prefix",
            "Metric prefix",
            help=f"Default {DEFAULT_PREFIX} (the connector's or Tempo's namespace changes it).",
        ),
        ConfigField(
            "lookback", "Lookback", help=f"The window the counters are summed over, default {DEFAULT_LOOKBACK}."
        ),
        ConfigField(
            "min_calls", "Minimum calls", help="Pairs with fewer calls in the window are left out (default 1)."
        ),
    )
    setup_instructions = (
        "Enable the OpenTelemetry Collector's servicegraph connector (or Tempo's metrics generator with the "
        "service-graphs processor) and have Prometheus scrape or receive its metrics. Give this connection the "
        "Prometheus URL; every 10 minutes it reads which service called which over the lookback window. Trace "
        "service names map to services like any other source's names; names that match none are listed under "
        "Unmapped."
    )

    def poll(
        self, config: Mapping[str, Any], secrets: Secrets, state: Mapping[str, Any], now: datetime, session: PollSession
    ) -> Iterator[PollResult]:
        """The whole graph of the last ``lookback`` in one step (a snapshot: the state only records when)."""
        url, prefix, lookback, min_calls = settings_of(config)
        headers = traces.bearer(secrets)
        window = f"{int(lookback.total_seconds())}s"
        calls = query(session, url, QUERY.format(metric=f"{prefix}_request_total", lookback=window), now, headers)
        failed = query(
            session, url, QUERY.format(metric=f"{prefix}_request_failed_total", lookback=window), now, headers
        )
        records: list[DependencyRecord] = []
        for (client, server, kind), count in sorted(calls.items()):
            total = round(count)
            if total < max(1, min_calls):
                continue
            edge = trace_edge(
                client,
                server,
                total,
                errors=round(failed.get((client, server, kind), 0.0)),
                connection_type=kind,
                window=traces.window_text(lookback),
                via="service graph",
            )
            if edge is not None:
                records.append(edge)
        yield traces.snapshot(records, now)
