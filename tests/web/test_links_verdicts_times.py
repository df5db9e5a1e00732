"""The alert and change pages, round two: links out built from what each source sent (GitHub Enterprise hosts too),
"reverts / reverted by", verdicts that can be undone with their history, the per-user time zone preference, the
suspects' ranks in the alert timeline's data, the demo's real sources and connections."""

from __future__ import annotations

import json
import re
from datetime import timedelta

import pytest
from django.utils import timezone

from changetrack import roles
from changetrack.ingest.store import store_records
from changetrack.models import Alert, Change, Connection, Feedback, UserPreference, VerdictEvent
from integrations.base import ChangeRecord, ServiceHint

SHA = "91dc3245e0f1a2b3c4d5e6f708192a3b4c5d6e7f"
HINT = ServiceHint(name="ledger", namespace="money", cluster="prod", create=True)


def _store(**fields) -> Change:
    base = {"source": "api", "kind": "deploy", "occurred_at": timezone.now(), "summary": "s", "service": HINT}
    base.update(fields)
    store_records([ChangeRecord(**base)])
    return Change.objects.get(source=base["source"], external_id=base["external_id"])


def _hrefs(html: str) -> set[str]:
    return set(re.findall(r'href="([^"]+)"', html))


@pytest.mark.django_db
def test_a_commit_and_its_pull_request_link_to_the_github_enterprise_host_the_push_named(web):
    push = _store(
        source="github",
        external_id="p1",
        kind="commit",
        summary="acme/rest-api@main: Reduce rest-api footprint (#512)",
        commit_sha=SHA,
        repository="acme/rest-api",
        details={"commits": [{"sha": SHA, "url": f"https://ghe.acme.corp/acme/rest-api/commit/{SHA}"}]},
    )
    hrefs = _hrefs(web.get(f"/changes/{push.pk}/").content.decode())
    assert f"https://ghe.acme.corp/acme/rest-api/commit/{SHA}" in hrefs
    assert "https://ghe.acme.corp/acme/rest-api/pull/512" in hrefs
    assert not any("github.com" in h for h in hrefs)


@pytest.mark.django_db
def test_a_jenkins_build_links_its_build_and_its_commit_on_the_host_of_its_scm_url(web):
    build = _store(
        source="jenkins",
        external_id="j1",
        kind="ci",
        commit_sha=SHA,
        repository="acme/rest-api",
        details={"scm_url": "git@git.example.org:acme/rest-api.git"},
        links=({"title": "Build #318", "url": "https://jenkins.example.com/job/rest-api/318/"},),
    )
    html = web.get(f"/changes/{build.pk}/").content.decode()
    assert 'href="https://jenkins.example.com/job/rest-api/318/"' in html and '<span class="pill">CI</span>' in html
    assert f'href="https://git.example.org/acme/rest-api/commit/{SHA}"' in html


@pytest.mark.django_db
def test_without_a_url_from_the_source_the_github_connections_enterprise_api_url_names_the_host(web):
    deploy = _store(external_id="d1", commit_sha=SHA, repository="acme/rest-api")
    assert f'href="https://github.com/acme/rest-api/commit/{SHA}"' in web.get(f"/changes/{deploy.pk}/").content.decode()
    Connection.objects.create(integration="github", name="ghe", config={"api_url": "https://ghe.example.com/api/v3"})
    html = web.get(f"/changes/{deploy.pk}/").content.decode()
    assert f'href="https://ghe.example.com/acme/rest-api/commit/{SHA}"' in html
    assert "github.com/acme" not in html


@pytest.mark.django_db
def test_a_link_that_is_not_http_is_never_rendered(web):
    change = _store(external_id="x1", links=({"title": "evil", "url": "javascript:alert(1)"},))
    assert "javascript:" not in web.get(f"/changes/{change.pk}/").content.decode()


def test_the_demo_alert_names_its_real_source_and_links_its_event_and_monitor(web, demo):
    html = web.get(f"/alerts/{demo.pk}/").content.decode()
    assert (
        'from <span class="source">Datadog</span>' in html
        and "demo" not in html.split("<main")[1].split("</h1>")[1][:400]
    )
    assert 'href="https://app.datadoghq.com/monitors/48213377"' in html
    assert 'href="https://app.datadoghq.com/event/event?id=7312054563517383947"' in html
    # the suspects link out too: the Jenkins build and the commit of the deploy
    assert 'href="https://jenkins.acme.example.com/job/rest-api-deploy/318/"' in html
    assert 'data-link-kind="commit"' in html


def test_the_demo_alertmanager_alert_links_prometheus_and_alertmanager(web, demo):
    alert = Alert.objects.get(source="alertmanager", external_id="demo-am-checkout-5xx")
    html = web.get(f"/alerts/{alert.pk}/").content.decode()
    assert "Prometheus graph" in html and "https://prometheus.prod-us.acme.example.com/graph?g0.expr=" in html
    assert 'href="https://alertmanager.prod-us.acme.example.com/#/alerts"' in html


def test_a_flag_turned_on_links_the_change_that_turned_it_off_and_back(web, demo):
    on = Change.objects.get(external_id="demo-flag-checkout-new-payment-flow-on")
    off = Change.objects.get(external_id="demo-flag-checkout-new-payment-flow-off")
    assert f'href="/changes/{off.pk}/" data-rel="reverted-by"' in web.get(f"/changes/{on.pk}/").content.decode()
    assert f'href="/changes/{on.pk}/" data-rel="reverts"' in web.get(f"/changes/{off.pk}/").content.decode()
    assert 'href="https://app.launchdarkly.com/default/production/features/new-payment-flow"' in (
        web.get(f"/changes/{on.pk}/").content.decode()
    )


def test_a_rollback_links_the_deploy_it_undid(web, demo):
    deploy = Change.objects.get(external_id="demo-search-deploy")
    rollback = Change.objects.get(external_id="demo-search-rollback")
    assert (
        f'href="/changes/{rollback.pk}/" data-rel="reverted-by"' in web.get(f"/changes/{deploy.pk}/").content.decode()
    )
    assert f'href="/changes/{deploy.pk}/" data-rel="reverts"' in web.get(f"/changes/{rollback.pk}/").content.decode()
    # a deploy nothing undid says nothing of the kind
    assert (
        "data-rel="
        not in web.get(f"/changes/{Change.objects.get(external_id='demo-rest-deploy').pk}/").content.decode()
    )


def test_an_undone_verdict_is_gone_from_the_ranking_but_kept_in_the_history_with_who_and_when(demo, login_as):
    responder = login_as(roles.RESPONDER, "riley")
    deploy = Change.objects.get(external_id="demo-rest-deploy")
    url = f"/alerts/{demo.pk}/feedback/"
    page = responder.post(url, {"change_id": deploy.pk, "verdict": "caused"}, follow=True).content.decode()
    assert "marked caused by riley" in page
    assert Feedback.objects.get(alert=demo, change_id=deploy.pk).verdict == "caused"
    page = responder.post(url, {"change_id": deploy.pk, "verdict": "undo"}, follow=True).content.decode()
    assert not Feedback.objects.filter(alert=demo, change_id=deploy.pk).exists()  # the engine no longer learns it
    assert "marked caused" not in page
    history = list(VerdictEvent.objects.filter(alert=demo, change_id=deploy.pk).order_by("at", "id"))
    assert [(e.action, e.verdict, e.actor) for e in history] == [
        ("set", "caused", "riley"),
        ("undo", "caused", "riley"),
    ]
    change_page = responder.get(f"/changes/{deploy.pk}/").content.decode()
    section = change_page.split('id="fb-h"')[1]
    assert section.index('data-action="undo"') < section.index('data-action="set"')  # newest first
    assert section.count("by riley") == 2
    # undoing again finds nothing to undo and records nothing
    responder.post(url, {"change_id": deploy.pk, "verdict": "undo"})
    assert VerdictEvent.objects.filter(alert=demo, change_id=deploy.pk).count() == 2


def test_a_viewer_can_neither_mark_nor_undo(demo, login_as):
    deploy = Change.objects.get(external_id="demo-rest-deploy")
    Feedback.objects.create(alert=demo, change_id=deploy.pk, verdict="caused", author="riley")
    viewer = login_as(roles.VIEWER)
    answer = viewer.post(f"/alerts/{demo.pk}/feedback/", {"change_id": deploy.pk, "verdict": "undo"})
    assert answer.status_code == 403
    assert Feedback.objects.filter(alert=demo, change_id=deploy.pk).exists()
    assert not VerdictEvent.objects.filter(action="undo").exists()
    assert "Undo</button>" not in viewer.get(f"/alerts/{demo.pk}/").content.decode()


def test_a_verdict_from_any_path_joins_the_history(demo):
    from changetrack.correlation import feedback

    deploy = Change.objects.get(external_id="demo-rest-deploy")
    feedback.record(demo, deploy.pk, "unrelated", author="U123 (slack)")
    event = VerdictEvent.objects.filter(alert=demo).latest("at")
    assert (event.action, event.verdict, event.actor, event.change_id) == (
        "set",
        "unrelated",
        "U123 (slack)",
        deploy.pk,
    )


def test_the_time_preference_is_stored_per_user_and_shown_on_every_page(web, user, login_as):
    assert 'data-times="local"' in web.get("/alerts/").content.decode()
    answer = web.post("/preferences/times/", {"times": "utc"}, HTTP_ACCEPT="application/json")
    assert answer.json() == {"times": "utc"}
    assert UserPreference.objects.get(user=user).times == "utc"
    assert 'data-times="utc"' in web.get("/alerts/").content.decode()
    other = login_as(roles.VIEWER)  # someone else's pages are unchanged
    assert 'data-times="local"' in other.get("/alerts/").content.decode()
    # a plain form goes back where it came from, never to another host
    assert web.post("/preferences/times/", {"times": "local", "next": "/changes/"})["Location"] == "/changes/"
    assert web.post("/preferences/times/", {"times": "utc", "next": "https://evil.example/"})["Location"] == "/"


def test_a_bad_time_preference_is_a_clear_400_problem(web, user):
    answer = web.post("/preferences/times/", {"times": "mars"})
    assert answer.status_code == 400 and answer["Content-Type"].startswith("application/problem+json")
    assert "times must be one of" in json.loads(answer.content)["detail"]
    assert not UserPreference.objects.filter(user=user).exists()


def test_times_without_javascript_have_no_seconds_and_name_utc(web, demo):
    html = web.get(f"/alerts/{demo.pk}/").content.decode()
    texts = re.findall(r"<time [^>]*>([^<]+)</time>", html)
    assert texts and all(re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d UTC", t) for t in texts)


def test_the_alert_timeline_carries_the_suspects_ranks_and_reaches_the_deepest_top_suspect(web, demo):
    from changetrack.correlation.engine import current_suspects

    suspects = current_suspects(demo, 10)
    data = web.get(f"/alerts/{demo.pk}/timeline.json").json()
    assert data["suspects"] == {str(s.change_id): s.rank for s in suspects}
    deepest = max(s.hops for s in suspects[:5])
    assert data["depth"] == max(1, deepest)
    drawn = {c["id"] for c in data["changes"]}
    assert {s.change_id for s in suspects[:5]} <= drawn  # every top suspect is on the chart by default
    assert web.get(f"/alerts/{demo.pk}/timeline.json?depth=0").json()["depth"] == 0  # the viewer's choice wins


def test_the_demo_connections_are_listed_and_loading_twice_adds_none(web, demo):
    from django.core.management import call_command

    html = web.get("/integrations/").content.decode()
    assert "No connections yet" not in html
    for name in ("Datadog (demo)", "Alertmanager prod-us (demo)", "GitHub acme (demo)", "Jenkins (demo)"):
        assert name in html
    count = Connection.objects.count()
    call_command("load_demo", "--reset", verbosity=0)
    assert Connection.objects.count() == count


def test_the_service_pages_now_score_explains_the_alert_pages_higher_one(web, demo):
    html = web.get(f"/services/{demo.service_id}/likely/", HTTP_HX_REQUEST="true").content.decode()
    assert "Scored as if an alert began now" in html
    assert f'href="/alerts/{demo.pk}/"' in html and "as of its start" in html
    assert "Scored as of the alert's start" in web.get(f"/alerts/{demo.pk}/").content.decode()


def test_an_old_change_on_another_service_is_not_taken_for_a_revert():
    store_records(
        [
            ChangeRecord(
                source="api",
                external_id=f"f{i}",
                kind="feature_flag",
                occurred_at=timezone.now() - timedelta(minutes=10 - i),
                summary="flag",
                service=ServiceHint(name=name, namespace="n", cluster="c", create=True),
                details={"flag": "f"},
                diff=({"path": "on", "before": i % 2 == 1, "after": i % 2 == 0},),
            )
            for i, name in enumerate(["a", "b"])
        ]
    )
    from changetrack.web.sourcelinks import reverts

    assert reverts(Change.objects.get(external_id="f0")) == (None, None)


pytestmark = pytest.mark.django_db


def test_a_jenkins_build_from_a_github_enterprise_checkout_links_its_commit_there_without_the_credentials(web):
    from integrations import registry
    from tests.integrations.helpers import fixture_json

    payload = fixture_json("jenkins", "build_finalized")
    payload["build"]["scm"]["url"] = "https://ci-bot:s3cr3t-t0ken@ghe.acme.corp/acme/checkout-api.git"
    records = registry.get("jenkins").parse("FINALIZED", payload, {})
    assert records[0].details["scm_url"] == "https://ghe.acme.corp/acme/checkout-api.git"
    store_records(records)
    build = Change.objects.get(source="jenkins")
    html = web.get(f"/changes/{build.pk}/").content.decode()
    assert f'href="https://ghe.acme.corp/acme/checkout-api/commit/{build.commit_sha}"' in html
    assert "s3cr3t" not in html


def test_pagerduty_and_opsgenie_alerts_link_their_incident_and_alert(web):
    from integrations.base import AlertRecord

    now = timezone.now()
    common = {"status": "triggered", "occurred_at": now, "started_at": now, "service": HINT}
    store_records(
        [
            AlertRecord(
                source="pagerduty",
                external_id="Q1",
                title="pd",
                url="https://acme.pagerduty.com/incidents/Q1ABC",
                **common,
            ),
            AlertRecord(
                source="opsgenie", external_id="og", title="og", details={"alert_id": "70413a06-38d6"}, **common
            ),
        ]
    )
    pd = web.get(f"/alerts/{Alert.objects.get(source='pagerduty').pk}/").content.decode()
    assert 'from <span class="source">PagerDuty</span>' in pd
    assert (
        '<a href="https://acme.pagerduty.com/incidents/Q1ABC" rel="noopener" data-link-kind="alert">PagerDuty incident</a>'
        in pd
    )
    og = web.get(f"/alerts/{Alert.objects.get(source='opsgenie').pk}/").content.decode()
    assert 'href="https://app.opsgenie.com/alert/detail/70413a06-38d6/details"' in og
