"""The ranking walks edges read from traces like any other, with their confidence from the call volume."""

from __future__ import annotations

import pytest

from changetrack.correlation import engine
from changetrack.ingest.store import store_records
from integrations.traces import trace_edge

from .helpers import NOW, alert, change, minutes

pytestmark = pytest.mark.django_db


def test_a_change_linked_to_the_alert_only_by_a_trace_edge_is_a_suspect_with_its_path_and_evidence():
    deploy = change("ledger", "deploy", NOW - minutes(8))
    change("checkout", "config", NOW - minutes(300))  # creates the alerting service
    before = alert("checkout", NOW, external_id="before")
    # nothing relates ledger to checkout yet: at most a teammate's change with no known dependency, ranked low
    unlinked = {r.change.id: r for r in engine.rank(before)}.get(deploy.pk)
    assert unlinked is None or (unlinked.direction == "none" and unlinked.hops == 1)
    store_records([trace_edge("checkout", "ledger", 5000, errors=40, window="1h", via="service graph")])
    a = alert("checkout", NOW, external_id="after")
    ranked = {r.change.id: r for r in engine.rank(a)}
    suspect = ranked[deploy.pk]
    assert suspect.hops == 1 and suspect.path == ["checkout", "ledger"] and suspect.direction == "down"
    assert not any(reason.startswith("No known dependency") for reason in suspect.reasons)
    assert unlinked is None or suspect.score > unlinked.score
    assert any("5,000 calls (40 failed) in 1h" in reason for reason in suspect.reasons)


def test_a_trace_edge_with_few_calls_weighs_less_than_one_with_many():
    busy = change("payments", "deploy", NOW - minutes(8))
    quiet = change("reports", "deploy", NOW - minutes(8))
    change("checkout", "config", NOW - minutes(300))
    store_records([trace_edge("checkout", "payments", 20000), trace_edge("checkout", "reports", 2)])
    ranked = {r.change.id: r for r in engine.rank(alert("checkout", NOW))}
    assert ranked[busy.pk].components["graph"] > ranked[quiet.pk].components["graph"]
    assert ranked[busy.pk].score > ranked[quiet.pk].score


def test_the_alert_page_says_a_change_without_a_known_edge_is_not_on_the_graph(admin_client):
    change("ledger", "deploy", NOW - minutes(8))
    change("checkout", "config", NOW - minutes(300))
    a = alert("checkout", NOW)
    ranked = engine.rank(a)
    assert any(r.reasons and any(x.startswith("No known dependency") for x in r.reasons) for r in ranked)

    page = admin_client.get(f"/alerts/{a.pk}/").content.decode()

    assert "No known dependency: same namespace (shop) (not on the dependency graph)" in page
    assert "hop away: checkout → ledger" not in page
