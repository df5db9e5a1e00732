"""POST /api/v1/dependencies, GET /api/v1/services, /services/{id} and /services/{id}/timeline."""

from __future__ import annotations

from datetime import timedelta

import pytest

from changetrack.models import Cluster, Dependency, HealthEpisode, Service
from integrations.base import parse_time
from tests.api.conftest import alert, assert_problem, change

pytestmark = pytest.mark.django_db
DEPS = "/api/v1/dependencies"


def ref(name, ns="shop", cluster="prod-us"):
    return {"name": name, "namespace": ns, "cluster": cluster}


def test_a_dependency_is_declared_with_201_and_again_with_200(api):
    body = {"service": ref("data-processor"), "depends_on": ref("rest-api")}
    first = api.post(DEPS, body)
    assert first.status_code == 201
    edge = first.json()
    assert edge["service"]["name"] == "data-processor" and edge["depends_on"]["name"] == "rest-api"
    assert edge["provenance"] == "declared" and edge["evidence"] == "declared via API"
    again = api.post(DEPS, body)
    assert again.status_code == 200 and again.json()["id"] == edge["id"]
    assert Dependency.objects.count() == 1


def test_an_array_of_dependencies_is_stored(api):
    response = api.post(
        DEPS, [{"service": ref("a"), "depends_on": ref("b")}, {"service": ref("b"), "depends_on": ref("c")}]
    )
    assert response.status_code == 201
    assert [r["created"] for r in response.json()["results"]] == [True, True]
    assert Dependency.objects.count() == 2


def test_a_service_cannot_depend_on_itself(api):
    assert_problem(api.post(DEPS, {"service": ref("a"), "depends_on": ref("a")}), 400, "depends_on")
    Service.objects.create(name="solo")
    body = assert_problem(
        api.post(DEPS, [{"service": "solo", "depends_on": {"name": "solo", "namespace": ""}}]), 400, "[0].depends_on"
    )
    assert body["errors"][0]["index"] == 0
    assert not Dependency.objects.exists()


def test_a_bad_dependency_body_is_400(api):
    assert_problem(api.post(DEPS, {"service": ref("a")}), 400, "depends_on")
    assert_problem(api.post(DEPS, {"service": ref("a"), "depends_on": ref("b"), "weight": 3}), 400, "weight")
    assert_problem(api.post(DEPS, {"service": ref("a"), "depends_on": ["b"]}), 400, "depends_on")


def test_an_ambiguous_dependency_end_is_400_listing_candidates(api):
    for cluster in ("prod-us", "prod-eu"):
        Service.objects.create(cluster=Cluster.objects.create(name=cluster), name="rest-api")
    body = assert_problem(api.post(DEPS, {"service": ref("worker"), "depends_on": "rest-api"}), 400, "depends_on")
    assert len(body["errors"][0]["candidates"]) == 2
    assert not Service.objects.filter(name="worker").exists() and not Dependency.objects.exists()


def test_services_are_listed_with_health_and_last_change_and_filtered(api):
    api.post(
        "/api/v1/changes",
        [
            change(external_id="old", timestamp="2026-11-20T10:00:00Z"),
            change(external_id="new", summary="Newest", timestamp="2026-11-21T10:00:00Z"),
        ],
    )
    api.post("/api/v1/alerts", alert(service=ref("checkout")))
    other = api.post("/api/v1/changes", change(external_id="o", service=ref("ledger", "money", "prod-eu"))).json()
    HealthEpisode.objects.create(
        service_id=other["service"]["id"],
        reason="CrashLoopBackOff",
        summary="crashing",
        started_at=parse_time("2026-11-21T10:00:00Z"),
        last_seen_at=parse_time("2026-11-21T10:05:00Z"),
    )
    body = api.get("/api/v1/services").json()
    by_name = {s["name"]: s for s in body["results"]}
    assert by_name["checkout"]["health"] == {"status": "alerting", "open_alerts": 1, "active_health_episodes": 0}
    assert by_name["checkout"]["last_change"]["summary"] == "Newest"
    assert by_name["ledger"]["health"] == {"status": "degraded", "open_alerts": 0, "active_health_episodes": 1}
    names = lambda r: [s["name"] for s in r.json()["results"]]  # noqa: E731
    assert names(api.get("/api/v1/services", {"cluster": "prod-eu"})) == ["ledger"]
    assert names(api.get("/api/v1/services", {"namespace": "shop"})) == ["checkout"]
    assert names(api.get("/api/v1/services", {"q": "LED"})) == ["ledger"]
    assert names(api.get("/api/v1/services", {"q": "money/led"})) == ["ledger"]  # namespace/name, as kubectl
    assert names(api.get("/api/v1/services", {"q": "prod-eu/money/ledger"})) == ["ledger"]
    assert names(api.get("/api/v1/services", {"q": "prod-us/money/ledger"})) == []
    page = api.get("/api/v1/services", {"limit": 1}).json()
    assert len(page["results"]) == 1 and page["next"]


def test_a_service_shows_its_dependencies_and_dependents_with_provenance(api):
    api.post(
        DEPS, [{"service": ref("web"), "depends_on": ref("api")}, {"service": ref("api"), "depends_on": ref("db")}]
    )
    api_service = Service.objects.get(name="api")
    Dependency.objects.create(
        service=api_service,
        depends_on=Service.objects.get(name="db"),
        provenance="kubernetes",
        evidence="env var DB_HOST",
        confidence=0.9,
    )
    body = api.get(f"/api/v1/services/{api_service.pk}").json()
    assert [(d["service"]["name"], d["provenance"]) for d in body["dependencies"]] == [
        ("db", "declared"),
        ("db", "kubernetes"),
    ]
    assert body["dependencies"][1]["evidence"] == "env var DB_HOST" and body["dependencies"][1]["confidence"] == 0.9
    assert [(d["service"]["name"], d["provenance"]) for d in body["dependents"]] == [("web", "declared")]
    assert_problem(api.get("/api/v1/services/99999"), 404)


def _graph(api):
    """alerting ← depends on → mid → far → farther (3 hops); unrelated is not connected."""
    api.post(
        DEPS,
        [
            {"service": ref("alerting"), "depends_on": ref("mid")},
            {"service": ref("mid"), "depends_on": ref("far")},
            {"service": ref("farther"), "depends_on": ref("far")},
        ],
    )
    base = parse_time("2026-11-21T10:00:00Z")
    items = []
    for i, name in enumerate(["alerting", "mid", "far", "farther", "unrelated"]):
        at = (base + timedelta(minutes=i)).isoformat()
        items.append(
            change(
                external_id=f"c-{name}",
                service=ref(name),
                summary=f"change on {name}",
                timestamp=at,
                kind="config" if name == "mid" else "deploy",
            )
        )
    api.post("/api/v1/changes", items)
    api.post("/api/v1/alerts", alert(service=ref("alerting"), timestamp="2026-11-21T10:30:00Z"))
    return Service.objects.get(name="alerting")


WINDOW = {"since": "2026-11-21T00:00:00Z", "until": "2026-11-22T00:00:00Z"}


def test_the_timeline_covers_services_within_depth_newest_first_tagged_with_their_service(api):
    alerting = _graph(api)
    url = f"/api/v1/services/{alerting.pk}/timeline"
    summaries = lambda r: [e["summary"] for e in r.json()["results"]]  # noqa: E731
    assert summaries(api.get(url, WINDOW)) == ["Error rate above 5%", "change on alerting"]
    assert summaries(api.get(url, {**WINDOW, "depth": 1})) == [
        "Error rate above 5%",
        "change on mid",
        "change on alerting",
    ]
    body = api.get(url, {**WINDOW, "depth": 3}).json()
    assert [e["summary"] for e in body["results"]] == [
        "Error rate above 5%",
        "change on farther",
        "change on far",
        "change on mid",
        "change on alerting",
    ]
    tagged = {e["summary"]: e["service"] for e in body["results"]}
    assert tagged["change on farther"]["name"] == "farther" and tagged["change on farther"]["hops"] == 3
    assert body["results"][0]["type"] == "alert" and body["results"][1]["type"] == "change"
    assert {s["name"] for s in body["services"]} == {"alerting", "mid", "far", "farther"}


def test_the_timeline_filters_by_kind_source_and_window(api):
    alerting = _graph(api)
    url = f"/api/v1/services/{alerting.pk}/timeline"
    kinds = lambda r: [(e["type"], e["kind"]) for e in r.json()["results"]]  # noqa: E731
    assert kinds(api.get(url, {**WINDOW, "depth": 1, "kind": "config"})) == [("change", "config")]
    assert kinds(api.get(url, {**WINDOW, "depth": 1, "kind": "alert"})) == [("alert", "alert")]
    assert kinds(api.get(url, {**WINDOW, "depth": 1, "source": "github"})) == []
    assert kinds(api.get(url, {"since": "2026-11-21T10:00:30Z", "until": "2026-11-21T10:20:00Z", "depth": 1})) == [
        ("change", "config")
    ]


def test_the_timeline_pages_with_a_cursor_without_gaps_or_repeats(api):
    alerting = _graph(api)
    url = f"/api/v1/services/{alerting.pk}/timeline"
    seen, params = [], {**WINDOW, "depth": 3, "limit": 2}
    page = api.get(url, params).json()
    while True:
        seen += [(e["type"], e["id"]) for e in page["results"]]
        if not page["next"]:
            break
        page = api.get(page["next"]).json()
    assert len(seen) == 5 and len(set(seen)) == 5


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"depth": 4}, "depth"),
        ({"depth": -1}, "depth"),
        ({"depth": "two"}, "depth"),
        ({"since": "2026-11-21T00:00:00"}, "since"),
        ({"until": "later"}, "until"),
        ({"kind": "teleport"}, "kind"),
        ({"since": "2026-11-22T00:00:00Z", "until": "2026-11-21T00:00:00Z"}, "since"),
        ({"cursor": "!!"}, "cursor"),
        ({"limit": 501}, "limit"),
    ],
)
def test_bad_timeline_parameters_are_400(api, params, field):
    alerting = _graph(api)
    assert_problem(api.get(f"/api/v1/services/{alerting.pk}/timeline", params), 400, field)


def test_the_timeline_of_an_unknown_service_is_404(api):
    assert_problem(api.get("/api/v1/services/424242/timeline"), 404)


# --- GET /api/v1/services/{id}/suspects: "what changed here, most likely to matter first?" without an alert --


def _neighbourhood(api):
    """data-processor depends on rest-api; an unrelated billing service changes too."""
    ref = {"namespace": "shop", "cluster": "prod-us"}
    api.post(
        "/api/v1/dependencies",
        {"service": {"name": "data-processor", **ref}, "depends_on": {"name": "rest-api", **ref}},
    )
    stories = [  # service, kind, summary, when, external id
        ("rest-api", "scale", "replicas 50 → 5", "2026-11-21T10:04:00Z", "scale-1"),
        ("data-processor", "deploy", "Deploy data-processor 3.2", "2026-11-21T00:10:00Z", "own-deploy"),
        ("billing", "deploy", "Deploy billing 9", "2026-11-21T10:05:00Z", "unrelated"),
        ("rest-api", "deploy", "Deploy rest-api 2.15", "2026-11-21T10:30:00Z", "after"),
    ]
    items = [
        change(service={"name": name, **ref}, kind=kind, summary=summary, timestamp=at, external_id=ext)
        for name, kind, summary, at, ext in stories
    ]
    posted = api.post("/api/v1/changes", items).json()["results"]
    ids = {r["external_id"]: r["id"] for r in posted}
    return Service.objects.get(name="data-processor").pk, ids


def test_a_service_ranks_what_changed_around_it_before_a_moment_and_stores_nothing(api):
    from changetrack.models import Alert, Suspect

    sid, ids = _neighbourhood(api)
    response = api.get(f"/api/v1/services/{sid}/suspects", {"at": "2026-11-21T10:11:30Z", "limit": 5})
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"service", "at", "suspects"} and body["at"] == "2026-11-21T10:11:30Z"
    assert body["service"]["name"] == "data-processor"
    ranked = [s["change"]["id"] for s in body["suspects"]]
    assert ranked[0] == ids["scale-1"]  # the dependency's cut
    assert ids["own-deploy"] in ranked[:3]  # its own deploy 10 h before: ranked, far below
    assert ids["after"] not in ranked  # after the moment asked
    if ids["unrelated"] in ranked:  # no known edge, same namespace: admitted below the cut, and labelled so
        unlinked = body["suspects"][ranked.index(ids["unrelated"])]
        assert unlinked["rank"] > 1 and "No known dependency: same namespace (shop)" in unlinked["reasons"]
        assert unlinked["score"] < body["suspects"][0]["score"] / 2
    top = body["suspects"][0]
    assert top["rank"] == 1 and top["hops"] == 1 and top["path"] == ["data-processor", "rest-api"]
    assert any("data-processor depends on rest-api" in r for r in top["reasons"])
    assert top["reasons"][0] == "Scaled 8 min before 2026-11-21 10:11:30 UTC"  # counted from the moment asked
    assert not Alert.objects.exists() and not Suspect.objects.exists()


def test_service_suspects_default_to_now_and_reject_bad_input(api):
    sid, _ = _neighbourhood(api)
    now = api.get(f"/api/v1/services/{sid}/suspects")
    assert now.status_code == 200 and now.json()["suspects"] == []  # every change is days old
    assert_problem(api.get(f"/api/v1/services/{sid}/suspects", {"at": "2026-11-21T10:11:30"}), 400, "at")
    assert_problem(api.get(f"/api/v1/services/{sid}/suspects", {"limit": "0"}), 400, "limit")
    assert api.get("/api/v1/services/999999/suspects").status_code == 404


def test_service_suspects_need_a_token_with_the_read_scope(api, make_api):
    sid, _ = _neighbourhood(api)
    assert make_api(scopes=("write",)).get(f"/api/v1/services/{sid}/suspects").status_code == 403
    assert make_api(scopes=("read",)).get(f"/api/v1/services/{sid}/suspects").status_code == 200
    assert api.client.get(f"/api/v1/services/{sid}/suspects").status_code == 401
