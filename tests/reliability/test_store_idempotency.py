"""store_records after the bulk-insert rewrite: idempotent on (source, external_id), updates in place, ids in
input order, last word of a batch wins, long external ids kept distinct."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from changetrack.ingest.store import store_records
from changetrack.models import Change
from integrations.base import ChangeRecord, ServiceHint

pytestmark = pytest.mark.django_db
WHEN = datetime(2026, 11, 21, 10, 0, tzinfo=UTC)


def rec(ext: str, summary: str = "Deploy", **kw) -> ChangeRecord:
    return ChangeRecord(
        source="test",
        external_id=ext,
        kind="deploy",
        occurred_at=WHEN,
        summary=summary,
        service=ServiceHint(name="api", namespace="shop", create=True),
        **kw,
    )


def test_storing_the_same_batch_twice_creates_each_change_once_and_returns_ids_in_input_order():
    first = store_records([rec("a"), rec("b"), rec("c")])
    second = store_records([rec("c"), rec("a"), rec("d")])
    assert [c for _, c in first.changes] == [True, True, True]
    by_ext = dict(Change.objects.values_list("external_id", "id"))
    assert [i for i, _ in first.changes] == [by_ext["a"], by_ext["b"], by_ext["c"]]
    assert second.changes == [(by_ext["c"], False), (by_ext["a"], False), (by_ext["d"], True)]
    assert Change.objects.count() == 4


def test_a_known_change_is_updated_in_place_and_the_last_word_of_a_batch_wins():
    store_records([rec("r", "Rollout started", status="in_progress")])
    store_records([rec("r", "Rollout 50%", status="in_progress"), rec("r", "Rollout done", status="succeeded")])
    change = Change.objects.get(external_id="r")
    assert (change.summary, change.status) == ("Rollout done", "succeeded")
    assert change.service is not None and change.service.name == "api"


def test_new_rows_carry_every_field():
    store_records(
        [
            rec(
                "f",
                actor="alice",
                details={"image": "api:1.2"},
                commit_sha="ABCDEF1234567890",
                links=({"title": "PR", "url": "https://example.com/pr/1"},),
                diff=({"path": "spec.replicas", "before": 50, "after": 5},),
            )
        ]
    )
    c = Change.objects.get(external_id="f")
    assert (c.actor, c.details, c.release_key, c.links[0]["title"], c.diff[0]["after"]) == (
        "alice",
        {"image": "api:1.2"},
        "abcdef1",
        "PR",
        5,
    )
    assert c.service_hint == {"name": "api", "namespace": "shop"} and c.created_at and c.updated_at


def test_external_ids_longer_than_the_column_are_stored_distinct_and_idempotent():
    long_a, long_b = "x" * 300 + "a", "x" * 300 + "b"
    store_records([rec(long_a), rec(long_b)])
    again = store_records([rec(long_a)])
    assert Change.objects.count() == 2 and again.changes[0][1] is False
