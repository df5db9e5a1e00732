"""create_connection for Slack prints the interactivity URL; the routing page adds and deletes rules."""

from __future__ import annotations

from io import StringIO

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command

from changetrack import roles
from changetrack.models import Connection, RoutingRule
from tests.notify.fake_slack import TOKEN

pytestmark = pytest.mark.django_db


def test_create_connection_for_slack_prints_the_interactivity_url_from_public_url(settings, fake_slack):
    settings.PUBLIC_URL = "https://changetrack.acme.example"
    out = StringIO()
    call_command(
        "create_connection",
        "slack",
        "Slack acme",
        "--set",
        f"bot_token={TOKEN}",
        "--set",
        "signing_secret=abc",
        "--set",
        "channel=#oncall",
        stdout=out,
    )
    conn = Connection.objects.get(name="Slack acme")
    assert (
        f"Interactivity URL (Slack app → Interactivity & Shortcuts → Request URL): https://changetrack.acme.example/hooks/slack/{conn.pk}/"
        in out.getvalue()
    )
    assert TOKEN not in out.getvalue() and TOKEN not in str(conn.config)
    assert conn.secret_store().get("bot_token") == TOKEN and conn.config == {"channel": "#oncall"}
    assert "Slack accepted the bot token (workspace acme, bot user U0BOT)." in out.getvalue()
    assert fake_slack.calls_of("auth.test")


def test_create_connection_says_when_slack_refuses_the_bot_token(fake_slack):
    out = StringIO()
    call_command(
        "create_connection", "slack", "Slack", "--set", "bot_token=xoxb-wrong", "--set", "signing_secret=s",
        "--set", "channel=#oncall", stdout=out,
    )  # fmt: skip
    assert "Slack refused the bot token: invalid_auth" in out.getvalue()


def test_an_admin_adds_and_deletes_a_routing_rule_on_the_page(admin_client, connection_factory):
    slack = connection_factory("slack", clear={"bot_token": "x", "signing_secret": "y"}, config={"channel": "#oncall"})
    page = admin_client.get("/integrations/routing/")
    assert page.status_code == 200 and "Add a rule" in page.content.decode()
    response = admin_client.post(
        "/integrations/routing/",
        {"connection": slack.pk, "team": "payments", "min_severity": "warning", "channel": "#payments"},
    )
    assert response.status_code == 302
    rule = RoutingRule.objects.get()
    assert (rule.team, rule.channel, rule.min_severity) == ("payments", "#payments", "warning")
    assert "#payments" in admin_client.get("/integrations/routing/").content.decode()
    assert admin_client.post(f"/integrations/routing/{rule.pk}/delete/").status_code == 302
    assert not RoutingRule.objects.exists()


def test_a_user_without_the_permission_cannot_add_or_delete_rules(client, connection_factory):
    slack = connection_factory("slack", clear={"bot_token": "x", "signing_secret": "y"}, config={"channel": "#oncall"})
    rule = RoutingRule.objects.create(connection=slack, channel="#x")
    viewer = User.objects.create_user("viewer")
    roles.set_role(viewer, roles.VIEWER)
    client.force_login(viewer)
    assert client.get("/integrations/routing/").status_code == 200
    assert client.post("/integrations/routing/", {"connection": slack.pk, "min_severity": "error"}).status_code == 403
    assert client.post(f"/integrations/routing/{rule.pk}/delete/").status_code == 403
    assert RoutingRule.objects.count() == 1


def test_a_routing_rule_cannot_target_a_source_connection(admin_client, connection_factory):
    generic = connection_factory("generic", hashed={"token": "t"})
    response = admin_client.post("/integrations/routing/", {"connection": generic.pk, "min_severity": "error"})
    assert response.status_code == 200 and not RoutingRule.objects.exists()
