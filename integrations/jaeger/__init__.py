"""Dependencies from traces through Jaeger's query service: ``GET /api/dependencies?endTs=<epoch ms>&lookback=<ms>``
answers ``{"data": [{"parent": "a", "child": "b", "callCount": 42}], ...}``; each link becomes an edge "parent
depends on child". With Elasticsearch, OpenSearch or Cassandra storage the list stays empty unless the
spark-dependencies job runs (memory and Badger storage compute it on the fly).
Docs: https://www.jaegertracing.io/docs/latest/apis/ (the query service's internal HTTP API, used by its UI).
"""

from __future__ import annotations

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
    get_json,
)
from integrations.traces import trace_edge

DEFAULT_LOOKBACK = "24h"
MAX_LINKS = 50_000


class JaegerIntegration(PullSource):
    slug = "jaeger"
    label = "Jaeger"
    emits = ("dependencies",)
    poll_interval = timedelta(minutes=10)
    config_fields = (
        ConfigField("url", "Jaeger query URL", required=True, help="e.g. http://jaeger-query.tracing:16686"),
        ConfigField("lookback", "Lookback", help=f"The window of the dependency links, default {DEFAULT_LOOKBACK}."),
        ConfigField("token", "Bearer token", secret=True, help="Optional, for a query service behind a proxy."),
    )
    setup_instructions = (
        "Give this connection the Jaeger query service's URL (the one its UI is served from). Every 10 minutes it "
        "reads the System Architecture links (GET /api/dependencies). With Elasticsearch, OpenSearch or Cassandra "
        "storage run the spark-dependencies job, or the links stay empty."
    )

    def poll(
        self, config: Mapping[str, Any], secrets: Secrets, state: Mapping[str, Any], now: datetime, session: PollSession
    ) -> Iterator[PollResult]:
        """The links of the last ``lookback`` in one step. ``PollError`` for a bad setting or an answer that is
        not Jaeger's; ``RateLimited`` for a 429 or an outage."""
        url = traces.base_url(config, "Jaeger query service")
        lookback = traces.lookback(config, DEFAULT_LOOKBACK)
        body = get_json(
            session,
            f"{url}/api/dependencies",
            now=now,
            label="Jaeger",
            params={"endTs": int(now.timestamp() * 1000), "lookback": int(lookback.total_seconds() * 1000)},
            headers=traces.bearer(secrets),
        )
        links = body.get("data") if isinstance(body, dict) else None
        if not isinstance(links, list):
            raise PollError("Jaeger answered without a 'data' list of dependency links")
        if body.get("errors"):
            raise PollError(f"Jaeger reported errors: {str(body['errors'])[:300]}")
        if len(links) > MAX_LINKS:
            raise PollError(f"Jaeger answered {len(links)} links; at most {MAX_LINKS} are read")
        records: list[DependencyRecord] = []
        skipped: list[str] = []
        for link in links:
            parent = link.get("parent") if isinstance(link, dict) else None
            child = link.get("child") if isinstance(link, dict) else None
            count = link.get("callCount") if isinstance(link, dict) else None
            if not isinstance(parent, str) or not isinstance(child, str) or not isinstance(count, int):
                skipped.append(f"a link without parent, child and callCount: {str(link)[:80]}")
                continue
            edge = trace_edge(parent, child, count, window=traces.window_text(lookback), via="Jaeger")
            if edge is not None and count > 0:
                records.append(edge)
        yield traces.snapshot(records, now, skipped)
