from datetime import timedelta

import pytest

from changetrack.correlation import engine, feedback, grouping, learning
from changetrack.correlation.metrics import delivery_metrics
from changetrack.models import Alert, Dependency, Incident, Service

from .helpers import NOW, alert, change, depends, minutes, replica_cut_under_two_callers, resolve, service

pytestmark = pytest.mark.django_db


def _rank(*alerts: Alert) -> None:
    for a in alerts:
        engine.rank_and_store(a.pk)


def test_alerts_minutes_apart_that_share_their_top_suspect_form_one_incident():
    cut = replica_cut_under_two_callers()
    first = alert("checkout", NOW)
    second = alert("reports", NOW + minutes(4))
    later = alert("checkout", NOW + minutes(180), title="Disk almost full")
    _rank(first, second, later)
    first.refresh_from_db()
    second.refresh_from_db()
    later.refresh_from_db()
    assert first.incident_id is not None and first.incident_id == second.incident_id
    incident = Incident.objects.get(pk=first.incident_id)
    assert incident.top_change_id == cut.pk and incident.started_at == first.started_at
    assert incident.title == "2 alerts after: Scaled rest-api 50 → 5"
    assert later.incident_id is None


def test_a_lone_alert_has_no_incident_and_leaves_one_when_its_top_suspect_changes():
    depends("checkout", "rest-api")
    depends("reports", "rest-api")
    change("rest-api", "deploy", NOW - minutes(10))
    a = alert("checkout", NOW)
    b = alert("reports", NOW + minutes(2))
    _rank(a, b)
    a.refresh_from_db()
    assert a.incident_id is not None
    own = change("checkout", "deploy", NOW - minutes(1), status="failed")  # late: now checkout's top suspect
    engine.current_suspects(a)
    a.refresh_from_db()
    b.refresh_from_db()
    assert a.incident_id is None and b.incident_id is None
    assert engine.current_suspects(a)[0].change_id == own.pk
    assert Incident.objects.count() == 0


def test_resolved_alerts_resolve_their_incident():
    depends("a", "core")
    depends("b", "core")
    change("core", "deploy", NOW - minutes(6))
    x, y = alert("a", NOW), alert("b", NOW + minutes(1))
    _rank(x, y)
    resolve(x, NOW + minutes(20))
    resolve(y, NOW + minutes(30))
    x.refresh_from_db()
    grouping.assign(x.pk)
    x.refresh_from_db()
    assert Incident.objects.get(pk=x.incident_id).resolved_at == NOW + minutes(30)


def test_an_incident_resolves_when_its_last_open_alert_resolves_and_reopens_when_one_triggers_again():
    depends("a", "core")
    depends("b", "core")
    change("core", "deploy", NOW - minutes(6))
    x, y = alert("a", NOW), alert("b", NOW + minutes(1))
    _rank(x, y)
    x.refresh_from_db()
    incident_id = x.incident_id
    assert incident_id is not None
    resolve(x, NOW + minutes(20))
    assert Incident.objects.get(pk=incident_id).resolved_at is None  # b is still open
    resolve(y, NOW + minutes(30))
    assert Incident.objects.get(pk=incident_id).resolved_at == NOW + minutes(30)
    alert("a", NOW + minutes(40), external_id=x.external_id)  # a triggers again
    assert Incident.objects.get(pk=incident_id).resolved_at is None
    resolve(x, NOW + minutes(50))
    assert Incident.objects.get(pk=incident_id).resolved_at == NOW + minutes(50)


def test_learned_edges_appear_after_repeated_co_occurrence_and_not_after_one():
    for name in ("api", "billing", "noise", "other"):
        change(name, "custom", NOW - timedelta(days=40))  # create the services
    for day in range(1, 8):
        t = NOW - timedelta(days=day)
        change("billing", "deploy", t - minutes(6))
        alert("api", t, title=f"Errors {day}")
        change("noise", "deploy", t + timedelta(hours=5))
    change("other", "config", NOW - timedelta(days=3) - minutes(3))  # once: coincidence
    kept = learning.learn_edges(now=NOW)
    edges = {(Service.objects.get(pk=e.service_id).name, Service.objects.get(pk=e.depends_on_id).name): e for e in kept}
    assert set(edges) == {("api", "billing")}
    row = Dependency.objects.get(provenance="learned")
    assert row.evidence == "7 alerts on api followed changes on billing in 30 days"
    assert 0 < row.confidence <= 0.8
    # the learned edge is now used: billing's next deploy is a 1-hop suspect for api's next alert
    nxt = change("billing", "deploy", NOW - minutes(8))
    top = engine.rank(alert("api", NOW))[0]
    assert top.change.id == nxt.pk and top.hops == 1
    assert "a learned dependency (from past alerts following changes)" in top.reasons


def test_learned_edges_skip_pairs_the_graph_already_knows_and_are_removed_when_they_stop_qualifying():
    depends("api", "billing", provenance="declared", evidence="declared via API", confidence=1.0)
    for day in range(1, 6):
        t = NOW - timedelta(days=day)
        change("billing", "deploy", t - minutes(6))
        alert("api", t)
    assert learning.learn_edges(now=NOW) == []
    Dependency.objects.filter(provenance="declared").delete()
    assert len(learning.learn_edges(now=NOW)) == 1
    assert learning.learn_edges(now=NOW + timedelta(days=60)) == []
    assert not Dependency.objects.filter(provenance="learned").exists()


def test_delivery_metrics_on_a_hand_built_history():
    since, until = NOW - timedelta(days=10), NOW
    # api: 4 deploys in 10 days; two with known commits (lead times 60 and 180 min)
    change("api", "commit", NOW - timedelta(days=9, minutes=60), commit_sha="aaaaaaaaaaaa11")
    d1 = change("api", "deploy", NOW - timedelta(days=9), commit_sha="aaaaaaaaaaaa11")
    change("api", "commit", NOW - timedelta(days=5, minutes=180), commit_sha="bbbbbbbbbbbb22")
    d2 = change("api", "deploy", NOW - timedelta(days=5), commit_sha="bbbbbbbbbbbb22")
    d3 = change("api", "deploy", NOW - timedelta(days=3))
    change("api", "deploy", NOW - timedelta(days=1))
    change("api", "deploy", NOW - timedelta(days=20))  # outside the period
    change("web", "deploy", NOW - timedelta(days=2))
    Service.objects.filter(name="api").update(team="platform")
    Service.objects.filter(name="web").update(team="web")
    # d2 confirmed as a cause; d3 ranked first for an alert (restored in 30 min); d1 ranked first but dismissed
    a1 = alert("api", NOW - timedelta(days=5) + minutes(5))
    feedback.record(a1, d2.pk, "caused")
    resolve(a1, NOW - timedelta(days=5) + minutes(95))
    a2 = alert("api", NOW - timedelta(days=3) + minutes(5))
    engine.rank_and_store(a2.pk)
    resolve(a2, NOW - timedelta(days=3) + minutes(35))
    a3 = alert("api", NOW - timedelta(days=9) + minutes(5))
    engine.rank_and_store(a3.pk)
    feedback.record(a3, d1.pk, "unrelated")
    assert engine.current_suspects(Alert.objects.get(pk=a2.pk))[0].change_id == d3.pk
    m = delivery_metrics(since, until)
    api = next(r for r in m["services"] if r["service"]["name"] == "api")
    assert api["deploys"] == 4 and api["deploy_frequency_per_day"] == 0.4
    assert api["lead_time_minutes_median"] == 120.0 and api["lead_time_samples"] == 2
    assert api["failed_deploys"] == 2 and api["change_failure_rate"] == 0.5
    assert api["time_to_restore_minutes_median"] == 60.0 and api["restored_alerts"] == 2
    teams = {t["team"]: t for t in m["teams"]}
    assert teams["platform"]["deploys"] == 4 and teams["web"]["deploys"] == 1
    assert teams["web"]["change_failure_rate"] == 0.0 and teams["web"]["lead_time_minutes_median"] is None
    only_web = delivery_metrics(since, until, team="web")
    assert [r["service"]["name"] for r in only_web["services"]] == ["web"]
    assert delivery_metrics(since, until, service_ids=[service("api").pk])["teams"][0]["team"] == "platform"


def test_edge_learning_is_a_periodic_celery_task():
    from django.conf import settings

    from changetrack.celery import app
    from changetrack.correlation import tasks

    entry = settings.CELERY_BEAT_SCHEDULE["learn-dependencies"]
    assert entry["task"] == "changetrack.correlation.tasks.learn_dependencies"
    app.loader.import_default_modules()
    assert entry["task"] in app.tasks
    assert tasks.learn_dependencies() == 0  # nothing to learn from an empty history
