"""Migration 0006 moves the pollers' old JSON watermarks to ``PollState``, so an upgrade polls on without a gap."""

from __future__ import annotations

import importlib
import json
from datetime import UTC, datetime

import pytest
from django.apps import apps

from changetrack.models import PollState, Watermark

pytestmark = pytest.mark.django_db
migration = importlib.import_module("changetrack.migrations.0006_poll_state")


def test_old_watermarks_become_poll_states_and_kubernetes_checkpoints_stay(connection_factory):
    gh = connection_factory("github", name="gh")
    ld = connection_factory("launchdarkly", name="ld")
    dd = connection_factory("datadog", name="dd")
    rows = {
        f"github:{gh.pk}:acme/checkout-api": {"since": "2026-11-21T11:00:00+00:00"},
        f"github:{gh.pk}": {"resume_after": "2026-11-21T13:00:00+00:00"},
        f"launchdarkly:{ld.pk}": {"after": 1763722800000},
        f"datadog:{dd.pk}:events": {"since": "2026-11-21T11:30:00+00:00", "retry_at": "2026-11-21T12:01:00+00:00"},
    }
    for key, value in rows.items():
        Watermark.objects.create(key=key, value=json.dumps(value))
    Watermark.objects.create(key="k8s:prod:deployments", value="12345")
    migration.move_poll_watermarks(apps, None)
    assert PollState.objects.get(connection=gh).state == {
        "repositories": {"acme/checkout-api": {"since": "2026-11-21T11:00:00+00:00"}}
    }
    assert PollState.objects.get(connection=gh).resume_after == datetime(2026, 11, 21, 13, 0, tzinfo=UTC)
    assert PollState.objects.get(connection=ld).state == {"after": 1763722800000}
    assert PollState.objects.get(connection=dd).state == {"since": "2026-11-21T11:30:00+00:00"}
    assert PollState.objects.get(connection=dd).resume_after == datetime(2026, 11, 21, 12, 1, tzinfo=UTC)
    assert list(Watermark.objects.values_list("key", flat=True)) == ["k8s:prod:deployments"]
