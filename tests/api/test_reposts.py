"""Posting an ``external_id`` again (finding 6 of issue 15, ``docs/api.md``): the mutable fields are updated with
``"updated": true``; a different service, kind or timestamp is a 409 naming the fields and keeps the stored change;
the same ``external_id`` twice in one array is a 400 naming both indexes."""

from __future__ import annotations

import pytest

from changetrack.models import Change
from tests.api.conftest import change

pytestmark = pytest.mark.django_db
URL = "/api/v1/changes"


def _problem(answer, code: int) -> dict:
    assert answer.status_code == code, answer.content
    assert answer["Content-Type"].startswith("application/problem+json")
    return answer.json()


def test_a_repost_with_new_mutable_fields_updates_them_and_says_so(api):
    first = api.post(URL, change()).json()
    again = api.post(
        URL,
        change(
            summary="Deploy checkout 2.14.0 (hotfix notes)",
            severity="warning",
            details={"version": {"from": "2.13.2", "to": "2.14.0"}, "notes": "hotfix"},
            links=[{"title": "Run", "url": "https://ci.example.com/run/9"}],
            actor="sam@example.com",
            status="succeeded",
            ended_at="2026-11-21T10:09:00Z",
        ),
    )
    assert again.status_code == 200
    body = again.json()
    assert body["id"] == first["id"] and body["updated"] is True
    stored = Change.objects.get()
    assert stored.summary == "Deploy checkout 2.14.0 (hotfix notes)" and stored.severity == "warning"
    assert stored.details["notes"] == "hotfix" and stored.actor == "sam@example.com"
    assert stored.links == [{"title": "Run", "url": "https://ci.example.com/run/9"}]
    assert stored.status == "succeeded" and stored.ended_at.isoformat() == "2026-11-21T10:09:00+00:00"


@pytest.mark.parametrize(
    ("over", "fields"),
    [
        ({"kind": "rollback"}, ["kind"]),
        ({"timestamp": "2026-11-21T11:00:00Z"}, ["timestamp"]),
        ({"service": "billing"}, ["service"]),
        (
            {"service": "billing", "kind": "config", "timestamp": "2026-11-22T10:04:00Z"},
            ["service", "kind", "timestamp"],
        ),
    ],
)
def test_a_repost_naming_another_service_kind_or_timestamp_is_a_409_and_keeps_the_change(api, over, fields):
    api.post(URL, change())
    body = _problem(api.post(URL, change(summary="changed", **over)), 409)
    assert [e["field"] for e in body["errors"]] == fields
    stored = Change.objects.get()
    assert stored.summary == "Deploy checkout 2.14.0" and stored.kind == "deploy"


def test_in_an_array_a_repost_is_updated_and_a_conflict_names_its_index(api):
    api.post(URL, change(external_id="known"))
    results = api.post(URL, [change(external_id="new"), change(external_id="known", summary="v2")]).json()["results"]
    assert [(r["created"], r["updated"]) for r in results] == [(True, False), (False, True)]
    assert Change.objects.get(external_id="known").summary == "v2"
    body = _problem(api.post(URL, [change(external_id="other"), change(external_id="known", kind="config")]), 409)
    assert body["errors"][0]["index"] == 1 and body["errors"][0]["field"] == "[1].kind"
    assert not Change.objects.filter(external_id="other").exists()  # the array is refused whole


def test_the_same_external_id_twice_in_one_array_is_a_400_naming_both_indexes(api):
    items = [change(external_id="a"), change(external_id="twice"), change(external_id="twice", summary="other")]
    body = _problem(api.post(URL, items), 400)
    assert [(e["index"], e["field"]) for e in body["errors"]] == [(1, "[1].external_id"), (2, "[2].external_id")]
    assert not Change.objects.exists()
