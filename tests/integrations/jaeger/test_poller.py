"""The Jaeger source's pure ``poll()`` against a local server speaking the query service's ``/api/dependencies``."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from changetrack.collect.polling import retrying_session
from integrations.base import PollError, RateLimited
from integrations.jaeger import JaegerIntegration
from tests.integrations.jaeger.fake_jaeger import FakeJaeger

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)


@pytest.fixture
def jaeger() -> Iterator[FakeJaeger]:
    with FakeJaeger() as fake:
        yield fake


def poll(url: str, **config: str):
    steps = list(JaegerIntegration().poll({"url": url, **config}, {}, {}, NOW, retrying_session(backoff=0)))
    assert len(steps) == 1
    return steps[0]


def test_each_link_becomes_an_edge_from_parent_to_child_with_its_call_count(jaeger):
    jaeger.links = [
        {"parent": "frontend", "child": "checkout", "callCount": 42},
        {"parent": "checkout", "child": "payments", "callCount": 7, "source": "jaeger"},
    ]
    step = poll(jaeger.url)
    got = [(r.service.name, r.depends_on.name, r.calls, r.errors, r.provenance) for r in step.records]
    assert got == [("frontend", "checkout", 42, None, "traces"), ("checkout", "payments", 7, None, "traces")]
    assert step.records[0].evidence == "42 calls in 1d, Jaeger"


def test_the_window_ends_now_and_spans_the_lookback_in_milliseconds(jaeger):
    poll(jaeger.url, lookback="6h")
    assert jaeger.requests == [{"endTs": str(int(NOW.timestamp() * 1000)), "lookback": str(6 * 3600 * 1000)}]


def test_malformed_links_are_skipped_with_a_reason_and_the_rest_kept(jaeger):
    jaeger.links = [
        {"parent": "a", "child": "b", "callCount": 3},
        {"parent": "a"},
        {"parent": "c", "child": "c", "callCount": 9},
    ]
    step = poll(jaeger.url)
    assert [(r.service.name, r.depends_on.name) for r in step.records] == [("a", "b")]
    assert len(step.skipped) == 1 and "without parent" in step.skipped[0]


def test_an_outage_is_a_rate_limit_and_a_refusal_a_poll_error(jaeger):
    jaeger.failures = [503] * 10
    with pytest.raises(RateLimited):
        poll(jaeger.url)
    jaeger.failures = [401]
    with pytest.raises(PollError, match="401"):
        poll(jaeger.url)
    with pytest.raises(PollError, match="404"):
        poll(jaeger.url + "/nothing-here")
    jaeger.links = None  # type: ignore[assignment]  # an answer that is not Jaeger's
    with pytest.raises(PollError, match="without a 'data' list"):
        poll(jaeger.url)
