"""Integrations (create, secrets shown once, deliveries, replay), delivery metrics and the live poll."""

from __future__ import annotations

import json
import re
from datetime import timedelta

import pytest
from django.utils import timezone

from changetrack.ingest.store import store_records
from changetrack.models import Change, Connection, Delivery, Feedback
from integrations.base import ChangeRecord, ServiceHint

pytestmark = pytest.mark.django_db


def test_the_integrations_page_lists_connections_and_what_can_be_added(web, connection_factory):
    connection_factory(name="scripts", hashed={"token": "t0ps3cret"})
    text = web.get("/integrations/").content.decode()
    assert "scripts" in text and "Generic JSON" in text and 'href="/integrations/new/generic/"' in text
    assert "t0ps3cret" not in text


def test_without_connections_the_page_says_so(web):
    assert b"No connections yet" in web.get("/integrations/").content


def test_the_new_connection_form_is_built_from_the_config_fields(web):
    text = web.get("/integrations/new/generic/").content.decode()
    assert 'name="cfg_token"' in text and 'type="password"' in text
    assert "Shared secret (header X-Changetrack-Token)" in text and "X-Changetrack-Token: &lt;secret&gt;" in text


def test_an_unknown_integration_is_a_404(web):
    assert web.get("/integrations/new/nope/").status_code == 404


def test_a_new_connection_shows_its_secret_once_and_stores_only_a_hash(web):
    response = web.post("/integrations/new/generic/", {"name": "deploy scripts", "cfg_token": "my-shared-s3cret"})
    assert response.status_code == 200 and response["Cache-Control"] == "no-store"
    text = response.content.decode()
    conn = Connection.objects.get(name="deploy scripts")
    assert "my-shared-s3cret" in text and f"/hooks/generic/{conn.pk}/" in text
    assert conn.secret_store().matches("token", "my-shared-s3cret")
    assert "my-shared-s3cret" not in json.dumps(conn.secret_hashes) + conn.secrets_encrypted + json.dumps(conn.config)
    for page in (f"/integrations/{conn.pk}/", "/integrations/", "/integrations/new/generic/"):
        assert "my-shared-s3cret" not in web.get(page).content.decode()


def test_a_blank_hashed_secret_is_generated_and_shown_once(web):
    text = web.post("/integrations/new/generic/", {"name": "gen", "cfg_token": ""}).content.decode()
    token = re.search(r'<code class="secret">([^<]+)</code>', text).group(1)
    conn = Connection.objects.get(name="gen")
    assert len(token) >= 24 and conn.secret_store().matches("token", token)
    assert token not in web.get(f"/integrations/{conn.pk}/").content.decode()


def test_the_created_secret_works_on_the_webhook(web, client, redis_client):
    text = web.post("/integrations/new/generic/", {"name": "gen", "cfg_token": ""}).content.decode()
    token = re.search(r'<code class="secret">([^<]+)</code>', text).group(1)
    conn = Connection.objects.get(name="gen")
    body = json.dumps(
        {
            "type": "change",
            "service": "api",
            "kind": "deploy",
            "summary": "Deploy api",
            "timestamp": "2026-11-21T10:04:00Z",
            "external_id": "x1",
        }
    )
    assert (
        client.post(
            conn.webhook_path, body, content_type="application/json", HTTP_X_CHANGETRACK_TOKEN=token
        ).status_code
        == 202
    )
    assert (
        client.post(
            conn.webhook_path, body, content_type="application/json", HTTP_X_CHANGETRACK_TOKEN="wrong"
        ).status_code
        == 401
    )


def test_an_invalid_form_is_shown_again_with_errors_and_creates_nothing(web):
    response = web.post("/integrations/new/generic/", {"name": ""})
    assert response.status_code == 200 and b"This field is required" in response.content
    assert not Connection.objects.exists()


def _delivery(conn, status, error="", minutes_ago=1):
    return Delivery.objects.create(
        connection=conn,
        integration=conn.integration,
        event_type="change",
        delivery_key=f"k{status}{minutes_ago}",
        headers={},
        body=b"{}",
        received_at=timezone.now() - timedelta(minutes=minutes_ago),
        status=status,
        error=error,
    )


def test_the_connection_page_shows_the_last_deliveries_with_their_errors(web, connection_factory):
    conn = connection_factory(name="scripts", hashed={"token": "t0ps3cret"})
    _delivery(conn, Delivery.Status.PROCESSED, minutes_ago=3)
    _delivery(conn, Delivery.Status.FAILED, error="missing required field 'kind'", minutes_ago=2)
    text = web.get(f"/integrations/{conn.pk}/").content.decode()
    assert "missing required field &#x27;kind&#x27;" in text and ">processed<" in text and ">failed<" in text
    assert "token: set" in text.lower() or "shared secret" in text.lower()
    assert "t0ps3cret" not in text


def test_replay_puts_failed_deliveries_back_to_pending_and_requests_a_drain(web, connection_factory, redis_client):
    from changetrack.ingest import kick

    conn = connection_factory(name="scripts", hashed={"token": "x"})
    failed = _delivery(conn, Delivery.Status.FAILED, error="boom", minutes_ago=2)
    done = _delivery(conn, Delivery.Status.PROCESSED, minutes_ago=3)
    response = web.post(f"/integrations/{conn.pk}/replay/", follow=True)
    assert b"1 failed deliveries queued for replay" in response.content
    failed.refresh_from_db(), done.refresh_from_db()
    assert (failed.status, failed.error, done.status) == ("pending", "", "processed")
    assert redis_client.exists(kick.KEY)  # the debounced drain was scheduled


def test_an_unknown_connection_is_a_404(web):
    assert web.get("/integrations/00000000-0000-0000-0000-000000000000/").status_code == 404
    assert web.post("/integrations/00000000-0000-0000-0000-000000000000/replay/").status_code == 404
    assert web.get("/integrations/not-a-uuid/").status_code == 404


# --- delivery metrics -----------------------------------------------------------------------------------------


def test_delivery_metrics_count_deploys_failures_lead_time_and_restores(web, demo):
    deploy = Change.objects.get(external_id="demo-rest-deploy")
    Feedback.objects.create(alert=demo, change_id=deploy.pk, verdict="caused")
    response = web.get(f"/delivery/?service={deploy.service_id}&days=7")
    assert response.status_code == 200
    total = response.context["total"]
    deploys = Change.objects.filter(service_id=deploy.service_id, kind="deploy").count()
    assert total["deploys"] == deploys and total["failed_deploys"] == 1
    assert total["lead_time_minutes_median"] == 25.0  # the release's commit came 25 min before the deploy
    figures = {label: value for label, value, _ in response.context["kpis"]}
    assert figures["Lead time (median)"] == "25 min"
    assert figures["Change failure rate"] == f"{100 / deploys:.0f}%"
    assert sum(n for _, n, _, _ in response.context["bars"]) == deploys
    assert sum(f for _, _, f, _ in response.context["bars"]) == 1
    assert [r["service"]["name"] for r in response.context["service_rows"]] == ["rest-api"]
    assert 'rest-api</a> <small class="muted">prod-us/shop</small>' in response.content.decode()  # which one


def test_delivery_metrics_show_the_time_to_restore_of_resolved_alerts(web, demo):
    response = web.get("/delivery/?team=payments")
    figures = {label: value for label, value, _ in response.context["kpis"]}
    assert figures["Time to restore (median)"] == "25 min"  # the demo's earlier checkout incident
    assert "By service" in response.content.decode()


def test_delivery_metrics_by_team_and_an_empty_scope(web, demo):
    everyone = web.get("/delivery/")
    assert {r["team"] for r in everyone.context["team_rows"]} >= {"platform", "payments", "data"}
    assert "By team" in everyone.content.decode()
    response = web.get("/delivery/?team=nobody&days=abc")
    assert response.status_code == 200 and b"No deploys in this scope" in response.content
    assert response.context["days"] == 30 and response.context["total"]["deploys"] == 0


# --- live -----------------------------------------------------------------------------------------------------


def test_the_live_poll_reports_what_was_stored_after_the_last_seen_ids(web, demo):
    marks = web.get("/live.json").json()
    assert marks["changes"] == [] and marks["change"] == Change.objects.order_by("-id").first().pk
    store_records(
        [
            ChangeRecord(
                source="generic",
                external_id="live-1",
                kind="deploy",
                occurred_at=timezone.now(),
                summary="Deploy rest-api 2.14.1",
                service=ServiceHint(name="rest-api", namespace="shop", cluster="prod-us"),
            )
        ]
    )
    fresh = web.get(f"/live.json?change={marks['change']}&alert={marks['alert']}").json()
    assert [c["summary"] for c in fresh["changes"]] == ["Deploy rest-api 2.14.1"]
    assert fresh["change"] > marks["change"] and fresh["alerts"] == []
    again = web.get(f"/live.json?change={fresh['change']}&alert=nonsense").json()
    assert again["changes"] == []
