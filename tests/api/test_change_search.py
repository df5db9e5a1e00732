"""``GET /api/v1/changes?q=``: the summary text it always searched, and now the search terms of
``changetrack.search`` (a SHA prefix, an image tag, a version, an actor, a flag key)."""

from __future__ import annotations

import pytest

from tests.web.test_search import changes  # noqa: F401  (a fixture: the changes the integrations store)

pytestmark = pytest.mark.django_db


def test_the_api_q_finds_a_change_by_sha_prefix_and_still_by_summary_text(api, changes):  # noqa: F811
    by_sha = api.get("/api/v1/changes", {"q": "91dc324"}).json()["results"]
    # the deploy by its SHA, and the noise whose summary mentions it (the summary search the API always had)
    assert changes["deploy-rest"] in [c["id"] for c in by_sha]
    assert {c["id"] for c in by_sha} == {changes["deploy-rest"], *(changes[f"noise-{i}"] for i in range(5))}
    by_flag = api.get("/api/v1/changes", {"q": "new-payment-flow"}).json()["results"]
    assert [c["id"] for c in by_flag] == [changes["flag-on"]]
    short = api.get("/api/v1/changes", {"q": "of"})  # too short for the terms: the summary search alone
    assert short.status_code == 200
    assert {c["id"] for c in short.json()["results"]} == {changes["release-2.14.0"]}
