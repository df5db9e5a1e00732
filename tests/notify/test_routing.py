"""Routing rules: which push connections announce an alert, and in which channels."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from changetrack.models import Alert, Cluster, RoutingRule, Service
from changetrack.notify import routing

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 11, 21, 10, 0, tzinfo=UTC)


@pytest.fixture
def checkout():
    prod = Cluster.objects.create(name="prod-us")
    return Service.objects.create(cluster=prod, namespace="shop", name="checkout", team="payments")


@pytest.fixture
def conn(connection_factory):
    return connection_factory("slack", clear={"bot_token": "x", "signing_secret": "y"}, config={"channel": "#oncall"})


def alert(service, severity="critical") -> Alert:
    return Alert(service=service, severity=severity, title="t", started_at=NOW, last_event_at=NOW, source="s")


def channels(a: Alert) -> list[tuple[str, str]]:
    return [(r.connection.name, r.channel) for r in routing.routes(a)]


def test_without_rules_critical_and_error_alerts_go_to_the_connections_channel_and_others_nowhere(conn, checkout):
    assert channels(alert(checkout, "critical")) == [(conn.name, "#oncall")]
    assert channels(alert(checkout, "error")) == [(conn.name, "#oncall")]
    assert channels(alert(checkout, "warning")) == []


def test_a_team_rule_sends_its_teams_alerts_from_its_minimum_severity_to_its_channel(conn, checkout):
    RoutingRule.objects.create(connection=conn, team="payments", min_severity="warning", channel="#payments")
    assert channels(alert(checkout, "warning")) == [(conn.name, "#payments")]
    assert channels(alert(checkout, "info")) == []  # below the rule's minimum, and not a default severity
    other = Service.objects.create(name="search", team="discovery")
    assert channels(alert(other, "critical")) == [(conn.name, "#oncall")]


def test_cluster_and_namespace_rules_match_only_their_scope(conn, checkout):
    RoutingRule.objects.create(connection=conn, cluster="prod-us", namespace="shop", channel="#shop-prod")
    RoutingRule.objects.create(connection=conn, cluster="staging", channel="#staging")
    assert channels(alert(checkout)) == [(conn.name, "#shop-prod")]


def test_every_matching_rule_adds_its_channel_and_an_empty_channel_means_the_default(conn, checkout):
    RoutingRule.objects.create(connection=conn, team="payments", channel="#payments")
    RoutingRule.objects.create(connection=conn, service=checkout, channel="")
    assert channels(alert(checkout)) == [(conn.name, "#oncall"), (conn.name, "#payments")]


def test_a_silenced_service_is_announced_nowhere_on_that_connection(conn, checkout, connection_factory):
    hook = connection_factory("webhook", clear={"signing_secret": "s"}, config={"url": "http://127.0.0.1:9/"})
    RoutingRule.objects.create(connection=conn, team="payments", channel="#payments")
    RoutingRule.objects.create(connection=conn, service=checkout, silence=True)
    assert channels(alert(checkout)) == [(hook.name, "")]


def test_an_unmapped_alert_matches_no_service_rule_but_still_gets_the_default(conn):
    RoutingRule.objects.create(connection=conn, team="payments", channel="#payments")
    assert channels(alert(None)) == [(conn.name, "#oncall")]


def test_disabled_connections_and_source_integrations_announce_nothing(conn, checkout, connection_factory):
    connection_factory("generic", hashed={"token": "t"})
    conn.enabled = False
    conn.save()
    assert channels(alert(checkout)) == []
