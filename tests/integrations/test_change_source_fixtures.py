"""Every change-source fixture through ``parse()``, and mangled versions of each: records or a clean error.

Fixture names start with the vendor event (GitHub: the ``X-GitHub-Event`` value, e.g. ``deployment_status_success``
is a ``deployment_status``); the others carry their event type in the body.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from integrations import registry
from integrations.base import ChangeRecord, ParseError, UnsupportedEvent

HERE = Path(__file__).parent
SLUGS = ("github", "launchdarkly", "jenkins", "argocd")
GITHUB_EVENTS = ("deployment_status", "deployment", "pull_request", "workflow_run", "check_suite", "push", "ping")
UNSUPPORTED = {
    "github/push_tag_unsupported",
    "github/deployment_status_inactive_unsupported",
    "github/pull_request_opened_unsupported",
    "github/workflow_run_pull_request_unsupported",
    "github/check_suite_completed_unsupported",
    "launchdarkly/member_invited_unsupported",
    "argocd/app_deleted_unsupported",
    "jenkins/build_deleted_unsupported",
}
EMPTY = {"github/ping_ignored", "jenkins/build_queued_ignored"}
#: bodies vendors really send that we refuse with a reason (400)
REJECTED = {"argocd/no_operation_state_without_sync_revision_rejected"}
FIXTURES = sorted(
    f"{p.parent.parent.name}/{p.stem}"
    for slug in SLUGS
    for p in (HERE / slug / "fixtures").glob("*.json")
    if not p.name.endswith(".headers.json")
)


def event_of(slug: str, name: str, payload: Any) -> str:
    if slug == "github":
        return next(e for e in GITHUB_EVENTS if name == e or name.startswith(e + "_"))
    return registry.get(slug).event_type({}, payload)


def parse(fixture_id: str, payload: Any) -> list[Any]:
    slug, name = fixture_id.split("/")
    return registry.get(slug).parse(event_of(slug, name, payload), payload, {})


@pytest.mark.parametrize("fixture_id", FIXTURES)
def test_each_fixture_parses_to_changes_or_is_a_declared_unsupported_event(fixture_id):
    payload = json.loads(
        (HERE / fixture_id.split("/")[0] / "fixtures" / f"{fixture_id.split('/')[1]}.json").read_text()
    )
    if fixture_id in UNSUPPORTED:
        with pytest.raises(UnsupportedEvent):
            parse(fixture_id, payload)
        return
    if fixture_id in REJECTED:
        with pytest.raises(ParseError, match="revision"):
            parse(fixture_id, payload)
        return
    records = parse(fixture_id, payload)
    if fixture_id in EMPTY:
        assert records == []
        return
    assert records and all(isinstance(r, ChangeRecord) for r in records)
    for r in records:
        assert r.source == fixture_id.split("/")[0] and r.external_id and r.summary and r.occurred_at.tzinfo
        if r.source != "launchdarkly":
            assert r.commit_sha and r.repository


def _paths(value: Any, prefix: tuple = ()) -> list[tuple]:
    out = [prefix] if prefix else []
    if isinstance(value, dict):
        for k, v in value.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value[:3]):
            out += _paths(v, (*prefix, i))
    return out


JUNK = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=True),
    st.text(max_size=20),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=2),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(fixture_id=st.sampled_from(FIXTURES), data=st.data())
def test_a_mangled_payload_gives_records_or_a_clean_error_never_a_crash(fixture_id, data):
    slug, name = fixture_id.split("/")
    payload = json.loads((HERE / slug / "fixtures" / f"{name}.json").read_text())
    mangled = copy.deepcopy(payload)
    for path in data.draw(st.lists(st.sampled_from(_paths(payload)), min_size=1, max_size=3)):
        parent = mangled
        try:
            for key in path[:-1]:
                parent = parent[key]
            if data.draw(st.booleans()) and isinstance(parent, dict):
                parent.pop(path[-1], None)
            else:
                parent[path[-1]] = data.draw(JUNK)
        except (KeyError, IndexError, TypeError):
            continue
    try:
        event = event_of(slug, name, mangled)
        records = registry.get(slug).parse(event, mangled, {})
    except (ParseError, UnsupportedEvent):
        return
    for r in records:
        json.dumps(dict(r.details)), json.dumps(list(r.diff))  # storable as JSON
