"""The pure parts of the polling contract: when a rate-limited client may come back, and who polls."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from integrations import registry
from integrations.base import TRANSIENT_PAUSE, resume_after

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    "headers, expected",
    [
        ({"Retry-After": "120"}, NOW + timedelta(seconds=120)),
        ({"retry-after": "Sat, 21 Nov 2026 12:05:00 GMT"}, NOW + timedelta(minutes=5)),  # an HTTP date
        ({"Retry-After": "Sat, 21 Nov 2026 11:00:00 GMT"}, NOW),  # a date already past: now
        ({"X-RateLimit-Reset": str(int(NOW.timestamp()) + 600)}, NOW + timedelta(seconds=601)),  # GitHub: epoch s
        ({"X-Ratelimit-Reset": str(int(NOW.timestamp() * 1000) + 90_000)}, NOW + timedelta(seconds=90)),  # LD: ms
        ({"x-ratelimit-reset": "30"}, NOW + timedelta(seconds=30)),  # Datadog: seconds until the reset
        ({"Retry-After": "60", "X-RateLimit-Reset": "30"}, NOW + timedelta(seconds=60)),  # Retry-After first
        ({}, NOW + TRANSIENT_PAUSE),
        ({"Retry-After": "soon"}, NOW + TRANSIENT_PAUSE),
    ],
)
def test_the_time_to_come_back_is_read_from_the_vendors_headers(headers, expected):
    assert resume_after(headers, NOW) == expected


def test_the_pull_sources_are_github_launchdarkly_datadog_aws_and_the_tracing_backends():
    assert sorted(slug for slug, i in registry.INTEGRATIONS.items() if i.can_poll) == [
        "aws",
        "datadog",
        "github",
        "jaeger",
        "launchdarkly",
        "prometheus-servicegraph",
    ]
