"""The Prometheus service-graph source's pure ``poll()`` against a local server speaking ``/api/v1/query``."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from changetrack.collect.polling import retrying_session
from integrations.base import PollError, RateLimited
from integrations.prometheus_servicegraph import PrometheusServiceGraphIntegration
from tests.integrations.prometheus_servicegraph.fake_prometheus import FakePrometheus

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
SOURCE = PrometheusServiceGraphIntegration()


class Secrets(dict):
    pass


@pytest.fixture
def prometheus() -> Iterator[FakePrometheus]:
    with FakePrometheus() as fake:
        yield fake


def poll(url: str, secrets: dict[str, str] | None = None, **config: str):
    steps = list(SOURCE.poll({"url": url, **config}, Secrets(secrets or {}), {}, NOW, retrying_session(backoff=0)))
    assert len(steps) == 1
    return steps[0]


def test_each_client_server_pair_becomes_an_edge_with_its_calls_errors_and_connection_type(prometheus):
    prometheus.add("frontend", "checkout", 1234.4, failed=12)
    prometheus.add("checkout", "postgres", 88, kind="database")
    prometheus.add("checkout", "orders-topic", 5, kind="messaging_system")
    step = poll(prometheus.url)
    edges = {(r.service.name, r.depends_on.name): r for r in step.records}
    assert set(edges) == {("frontend", "checkout"), ("checkout", "postgres"), ("checkout", "orders-topic")}
    front = edges[("frontend", "checkout")]
    assert (front.provenance, front.calls, front.errors, front.connection_type) == ("traces", 1234, 12, "")
    assert front.evidence == "1,234 calls (12 failed) in 1h, service graph"
    assert edges[("checkout", "postgres")].connection_type == "database"
    assert edges[("checkout", "postgres")].errors == 0
    assert edges[("checkout", "orders-topic")].evidence == "5 calls in 1h, messaging system, service graph"
    assert not front.service.create  # trace names are matched, never created


def test_the_queries_sum_both_counters_over_the_lookback_at_the_polls_time(prometheus):
    poll(prometheus.url, lookback="90m", metric_prefix="tempo_service_graph")
    assert [q["query"] for q in prometheus.requests] == [
        "sum by (client, server, connection_type) (increase(tempo_service_graph_request_total[5400s]))",
        "sum by (client, server, connection_type) (increase(tempo_service_graph_request_failed_total[5400s]))",
    ]
    assert float(prometheus.requests[0]["time"]) == NOW.timestamp()


def test_pairs_under_min_calls_self_calls_empty_names_and_non_numbers_are_left_out(prometheus):
    prometheus.add("frontend", "checkout", 3)
    prometheus.add("frontend", "search", 40)
    prometheus.add("checkout", "checkout", 500)
    prometheus.add("", "checkout", 500)
    prometheus.add("frontend", "ads", "NaN")
    step = poll(prometheus.url, min_calls="10")
    assert [(r.service.name, r.depends_on.name) for r in step.records] == [("frontend", "search")]


def test_the_token_is_sent_as_a_bearer_and_a_refusal_is_a_poll_error():
    with FakePrometheus(token="s3cret") as fake:
        fake.add("a", "b", 10)
        assert len(poll(fake.url, {"token": "s3cret"}).records) == 1
        with pytest.raises(PollError, match="401"):
            poll(fake.url, {"token": "wrong"})


def test_a_query_prometheus_refuses_is_a_poll_error_with_its_reason(prometheus):
    prometheus.refuse = "query processing would load too many samples into memory in query execution"
    with pytest.raises(PollError, match=r"refused the query \(execution\): query processing would load"):
        poll(prometheus.url)
    with pytest.raises(PollError, match="not a Prometheus metric name"):  # never sent: it would end up in PromQL
        poll(prometheus.url, metric_prefix="x{job=~'.*'}")
    assert len(prometheus.requests) == 1


def test_a_503_is_retried_and_an_outage_longer_than_the_retries_is_a_rate_limit(prometheus):
    prometheus.add("a", "b", 10)
    prometheus.failures = [503, 503]
    assert len(poll(prometheus.url).records) == 1  # the session's retries cured it
    prometheus.failures = [503] * 10
    with pytest.raises(RateLimited):
        poll(prometheus.url)


def test_an_answer_that_is_not_a_vector_or_not_a_success_is_a_poll_error(prometheus):
    with pytest.raises(PollError, match="url"):
        poll("ftp://example.com")
    with pytest.raises(PollError, match="lookback"):
        poll(prometheus.url, lookback="1 hour")
    with pytest.raises(PollError, match="min_calls"):
        poll(prometheus.url, min_calls="-1")
