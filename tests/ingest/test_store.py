"""``store_records``: idempotent on (source, external_id), and what an unmapped record keeps."""

from datetime import datetime, timezone

import pytest

from changetrack.ingest.store import store_records
from changetrack.models import Change
from integrations.base import ChangeRecord, ServiceHint
from tests.records import change


@pytest.mark.django_db
def test_the_same_change_stored_twice_is_one_row_and_updates_in_place():
    now = datetime.now(timezone.utc)
    first = store_records([change("rollout-1", now)])
    updated = ChangeRecord(
        source="test",
        external_id="rollout-1",
        kind="deploy",
        occurred_at=now,
        summary="done",
        status="succeeded",
        service=ServiceHint(name="svc", namespace="ns", cluster="c1", create=True),
    )
    second = store_records([updated])
    assert first.changes[0][0] == second.changes[0][0] and second.changes[0][1] is False
    row = Change.objects.get(external_id="rollout-1")
    assert (row.summary, row.status) == ("done", "succeeded")


@pytest.mark.django_db
def test_an_unmapped_change_keeps_what_the_source_said():
    result = store_records([change("u1", datetime.now(timezone.utc), ServiceHint(name="ghost", env="prod"))])
    row = Change.objects.get(pk=result.changes[0][0])
    assert row.service is None and row.service_hint == {"name": "ghost", "env": "prod"}
