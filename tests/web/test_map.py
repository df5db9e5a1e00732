"""The service map's data (``/map/graph.json``) and page (``/map/``): services with health, open alerts and recent
changes; edges with provenance and confidence; filters; centring on an alert; bad parameters."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from changetrack.models import Alert, Change, Cluster, Dependency, HealthEpisode, Service, Suspect

pytestmark = pytest.mark.django_db


def _service(name: str, cluster: Cluster, namespace: str = "shop", team: str = "payments") -> Service:
    return Service.objects.create(cluster=cluster, namespace=namespace, name=name, team=team)


def _change(service: Service, kind: str, minutes_ago: float, n: int = 0) -> Change:
    at = timezone.now() - timedelta(minutes=minutes_ago)
    return Change.objects.create(
        source="api", external_id=f"{service.name}-{kind}-{minutes_ago}-{n}", kind=kind, occurred_at=at,
        summary=f"{kind} of {service.name}", service=service,
    )  # fmt: skip


@pytest.fixture
def shop():
    """frontend → checkout → rest-api → postgres in prod-us (payments team), plus a billing service in prod-eu;
    an open alert on checkout whose top suspect is rest-api's deploy (two hops down the graph's path)."""
    us, eu = Cluster.objects.create(name="prod-us"), Cluster.objects.create(name="prod-eu")
    s = {n: _service(n, us) for n in ("frontend", "checkout", "rest-api")}
    s["postgres"] = _service("postgres", us, namespace="data", team="platform")
    s["billing"] = _service("billing", eu, team="finance")
    Dependency.objects.create(service=s["frontend"], depends_on=s["checkout"], provenance="declared", confidence=1.0)
    Dependency.objects.create(service=s["frontend"], depends_on=s["checkout"], provenance="learned", confidence=0.4)
    Dependency.objects.create(
        service=s["checkout"], depends_on=s["rest-api"], provenance="traces", confidence=0.8, calls=1200, errors=90,
        connection_type="", evidence="12 traces",
    )  # fmt: skip
    Dependency.objects.create(service=s["rest-api"], depends_on=s["postgres"], provenance="kubernetes", confidence=0.9)
    Dependency.objects.create(service=s["billing"], depends_on=s["checkout"], provenance="declared")
    deploy = _change(s["rest-api"], "deploy", 20)
    _change(s["rest-api"], "config", 200)
    _change(s["checkout"], "feature_flag", 60 * 30)  # 30 h ago: outside the default 24 h window
    now = timezone.now()
    alert = Alert.objects.create(
        source="datadog", external_id="a1", title="checkout errors", service=s["checkout"], started_at=now,
        last_event_at=now,
    )  # fmt: skip
    Alert.objects.create(
        source="datadog", external_id="a0", title="old", service=s["billing"], started_at=now, last_event_at=now,
        status=Alert.Status.RESOLVED,
    )  # fmt: skip
    HealthEpisode.objects.create(
        service=s["postgres"], reason="OOMKilled", summary="oom", started_at=now, last_seen_at=now
    )
    Suspect.objects.create(alert=alert, change=deploy, rank=1, score=0.91, hops=1, path=["checkout", "rest-api"])
    return {"services": s, "alert": alert, "deploy": deploy}


def graph(web, **params):
    response = web.get("/map/graph.json", params)
    assert response.status_code == 200, response.content[:500]
    return response.json()


def by_name(data) -> dict:
    return {s["name"]: s for s in data["services"]}


def test_every_service_is_a_node_with_its_health_open_alerts_and_recent_changes(web, shop):
    nodes = by_name(graph(web))
    assert set(nodes) == {"frontend", "checkout", "rest-api", "postgres", "billing"}
    assert nodes["checkout"]["alerts"] == 1 and nodes["billing"]["alerts"] == 0  # resolved alerts do not count
    assert nodes["postgres"]["unhealthy"] == 1 and nodes["checkout"]["unhealthy"] == 0
    assert set(nodes["rest-api"]["changes"]) == {"deploy", "config"}
    assert nodes["rest-api"]["changes"]["deploy"][0] == 1
    assert nodes["checkout"]["changes"] == {}  # its flag change is 30 h old
    assert nodes["postgres"]["cluster"] == "prod-us" and nodes["postgres"]["namespace"] == "data"
    assert nodes["checkout"]["url"] == f"/services/{shop['services']['checkout'].pk}/"


def test_the_time_window_decides_which_changes_show(web, shop):
    assert set(by_name(graph(web, hours=1))["rest-api"]["changes"]) == {"deploy"}
    assert set(by_name(graph(web, hours=168))["checkout"]["changes"]) == {"feature_flag"}


def test_edges_carry_every_provenance_the_best_confidence_and_trace_counts(web, shop):
    s = shop["services"]
    edges = {(e["from"], e["to"]): e for e in graph(web)["edges"]}
    assert len(edges) == 4
    front = edges[(s["frontend"].pk, s["checkout"].pk)]
    assert front["provenance"] == ["declared", "learned"] and front["confidence"] == 1.0
    traced = edges[(s["checkout"].pk, s["rest-api"].pk)]
    assert traced["provenance"] == ["traces"] and traced["calls"] == 1200 and traced["errors"] == 90
    assert traced["evidence"] == "12 traces"


@pytest.mark.parametrize(
    ("params", "names", "n_edges"),
    [
        ({"cluster": "prod-eu"}, {"billing"}, 0),
        ({"namespace": "shop"}, {"frontend", "checkout", "rest-api", "billing"}, 3),
        ({"team": "payments"}, {"frontend", "checkout", "rest-api"}, 2),
        ({"cluster": "prod-us", "namespace": "data"}, {"postgres"}, 0),
        ({"cluster": "nowhere"}, set(), 0),
    ],
)
def test_filters_narrow_the_services_and_keep_only_edges_between_them(web, shop, params, names, n_edges):
    data = graph(web, **params)
    assert set(by_name(data)) == names and len(data["edges"]) == n_edges


def test_the_data_costs_the_same_few_queries_for_five_services_or_two_hundred(web, shop):
    with CaptureQueriesContext(connection) as few:
        graph(web)
    cluster = Cluster.objects.get(name="prod-us")
    more = [_service(f"svc-{i}", cluster) for i in range(200)]
    for i, svc in enumerate(more):
        Dependency.objects.create(service=svc, depends_on=more[i - 1], provenance="kubernetes")
        _change(svc, "deploy", 5)
    with CaptureQueriesContext(connection) as many:
        assert len(graph(web)["services"]) == 205
    assert len(many) == len(few) <= 9, [q["sql"][:120] for q in many.captured_queries]


def test_centring_on_an_alert_gives_its_suspects_with_the_path_of_service_ids(web, shop):
    s, alert = shop["services"], shop["alert"]
    data = graph(web, alert=alert.pk)
    assert data["alert"]["service"] == s["checkout"].pk and data["focused"] is True
    (suspect,) = data["alert"]["suspects"]
    assert suspect["rank"] == 1 and suspect["change"] == shop["deploy"].pk
    assert suspect["path"] == [s["checkout"].pk, s["rest-api"].pk]
    # its neighbourhood only: the alerting service, its direct neighbours, and the paths
    assert set(by_name(data)) == {"checkout", "frontend", "rest-api", "billing"}
    whole = graph(web, alert=alert.pk, whole=1)
    assert len(whole["services"]) == 5 and whole["focused"] is False and whole["alert"]["suspects"]


@pytest.mark.parametrize(
    "params",
    [
        {"hours": "2"},
        {"hours": "abc"},
        {"hours": "-1"},
        {"alert": "x"},
        {"alert": "1e3"},
        {"alert": str(2**63)},
        {"cluster": "c" * 254},
    ],
)
def test_bad_parameters_answer_400_problem_json_and_the_page_400(web, shop, params):
    response = web.get("/map/graph.json", params)
    assert response.status_code == 400
    assert response["Content-Type"] == "application/problem+json" and response.json()["detail"]
    page = web.get("/map/", params)
    assert page.status_code == 400 and b'role="alert"' in page.content


def test_an_unknown_alert_answers_404(web, shop):
    response = web.get("/map/graph.json", {"alert": 999999})
    assert response.status_code == 404 and response["Content-Type"] == "application/problem+json"
    assert web.get("/map/", {"alert": 999999}).status_code == 404


def test_the_page_loads_the_vendored_scripts_and_points_them_at_its_data(web, shop):
    body = web.get("/map/", {"cluster": "prod-us", "hours": 6}).content.decode()
    assert "/static/changetrack/vendor/cytoscape.min.js" in body and "/static/changetrack/map.js" in body
    assert 'data-graph-url="/map/graph.json?cluster=prod-us&amp;hours=6"' in body
    assert "<script>" not in body  # no inline script: the CSP forbids it


def test_the_alert_page_links_to_the_map_centred_on_it(web, shop):
    alert = shop["alert"]
    assert f'href="/map/?alert={alert.pk}"'.encode() in web.get(f"/alerts/{alert.pk}/").content
