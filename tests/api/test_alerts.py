"""POST/GET /api/v1/alerts, /alerts/{id}, /alerts/{id}/suspects and /alerts/{id}/feedback."""

from __future__ import annotations

import time

import pytest

from changetrack.models import Alert, Change, Dependency, Feedback, Suspect
from tests.api.conftest import alert, assert_problem, change

pytestmark = pytest.mark.django_db
URL = "/api/v1/alerts"


def test_an_alert_is_created_with_201(api):
    response = api.post(URL, alert())
    assert response.status_code == 201
    body = response.json()
    assert body["status"] == "triggered" and body["severity"] == "critical"
    assert body["timestamp"] == "2026-11-21T10:11:30Z" and body["resolved_at"] is None
    assert body["service"]["name"] == "data-processor"
    assert Alert.objects.get().pk == body["id"]


def test_the_same_external_id_with_status_resolved_closes_it_with_200(api):
    created = api.post(URL, alert()).json()
    response = api.post(URL, alert(status="resolved", timestamp="2026-11-21T10:30:00Z"))
    assert response.status_code == 200
    body = response.json()
    assert body["id"] == created["id"] and body["status"] == "resolved"
    assert body["resolved_at"] == "2026-11-21T10:30:00Z"
    stored = Alert.objects.get()
    assert stored.status == "resolved" and stored.resolved_at is not None


def test_an_array_of_alerts_is_answered_in_order(api):
    response = api.post(URL, [alert(external_id="a1"), alert(external_id="a2")])
    assert response.status_code == 201
    assert [(r["external_id"], r["created"]) for r in response.json()["results"]] == [("a1", True), ("a2", True)]


def test_an_array_with_a_bad_alert_stores_nothing(api):
    body = assert_problem(
        api.post(URL, [alert(external_id="a1"), alert(external_id="a2", severity="meh")]), 400, "[1].severity"
    )
    assert body["errors"][0]["index"] == 1
    assert not Alert.objects.exists()


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("status", "exploded"),
        ("severity", "sev0"),
        ("title", "x" * 1025),
        ("timestamp", "2026-11-21T10:11:30"),
        ("title", None),
    ],
)
def test_a_bad_alert_field_is_400(api, field, value):
    assert_problem(api.post(URL, alert(**{field: value})), 400, field)
    assert not Alert.objects.exists()


def test_a_missing_title_is_400(api):
    assert_problem(api.post(URL, alert(title=...)), 400, "title")


def test_alerts_are_listed_with_status_and_other_filters(api):
    api.post(
        URL,
        [
            alert(external_id="open", timestamp="2026-11-21T10:00:00Z"),
            alert(external_id="closed", timestamp="2026-11-21T11:00:00Z", service="other"),
        ],
    )
    api.post(URL, alert(external_id="closed", status="resolved", timestamp="2026-11-21T12:00:00Z", service="other"))
    ids = lambda r: [a["external_id"] for a in r.json()["results"]]  # noqa: E731
    assert ids(api.get(URL)) == ["closed", "open"]
    assert ids(api.get(URL, {"status": "resolved"})) == ["closed"]
    assert ids(api.get(URL, {"status": "triggered"})) == ["open"]
    assert ids(api.get(URL, {"cluster": "prod-us"})) == ["open"]
    assert ids(api.get(URL, {"q": "error rate", "until": "2026-11-21T10:30:00Z"})) == ["open"]
    assert_problem(api.get(URL, {"since": "2026-11-21"}), 400, "since")


def test_an_alert_is_read_by_id_and_an_unknown_one_is_404(api):
    pk = api.post(URL, alert()).json()["id"]
    assert api.get(f"{URL}/{pk}").json()["external_id"] == "dd-cycle-5e1f0b8f"
    assert_problem(api.get(f"{URL}/{pk + 1000}"), 404)


def _scale(api, **over):
    """A scale change on rest-api, posted through the API."""
    service = {"name": "rest-api", "namespace": "shop", "cluster": "prod-us"}
    return api.post("/api/v1/changes", change(service=service, kind="scale", **over)).json()


def _story(api):
    """rest-api is scaled down; data-processor (which depends on it) alerts 7 minutes later."""
    api.post(
        "/api/v1/dependencies",
        {
            "service": {"name": "data-processor", "namespace": "shop", "cluster": "prod-us"},
            "depends_on": {"name": "rest-api", "namespace": "shop", "cluster": "prod-us"},
        },
    )
    c = _scale(api, summary="replicas 50 → 5", external_id="scale-1")
    a = api.post(URL, alert()).json()
    return a, c


def test_suspects_have_exactly_the_documented_shape(api):
    a, c = _story(api)
    response = api.get(f"{URL}/{a['id']}/suspects", {"limit": 10})
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"alert", "suspects", "no_change_stands_out"}
    assert isinstance(body["no_change_stands_out"], bool)
    assert body["alert"] == {
        "id": a["id"],
        "title": "Error rate above 5%",
        "timestamp": "2026-11-21T10:11:30Z",
        "service": a["service"],
    }
    top = body["suspects"][0]
    assert set(top) == {"rank", "score", "change", "hops", "relation", "path", "components", "reasons"}
    assert top["rank"] == 1 and 0 <= top["score"] <= 1 and top["hops"] == 1 and top["relation"] == "down"
    assert top["path"] == ["data-processor", "rest-api"]
    assert top["change"] == {
        "id": c["id"],
        "external_id": "scale-1",
        "kind": "scale",
        "summary": "replicas 50 → 5",
        "timestamp": "2026-11-21T10:04:00Z",
        "service": c["service"],
    }
    assert all(isinstance(r, str) and r for r in top["reasons"])
    assert all(isinstance(v, float) for v in top["components"].values())


def test_each_suspect_says_how_its_service_relates_to_the_alerting_one(api):
    """self, down (a dependency), up (a caller), none (no known edge, same namespace): the API says it, so a client
    need not read "No known dependency" out of the reasons (such a suspect has hops 1 and no edge behind it)."""
    shop = {"namespace": "shop", "cluster": "prod-us"}
    api.post(
        "/api/v1/dependencies",
        {"service": {"name": "data-processor", **shop}, "depends_on": {"name": "rest-api", **shop}},
    )
    api.post(
        "/api/v1/dependencies",
        {"service": {"name": "frontend", **shop}, "depends_on": {"name": "data-processor", **shop}},
    )
    posted = {}
    for name in ("data-processor", "rest-api", "frontend", "mailer"):  # mailer: same namespace, no edge
        posted[name] = api.post(
            "/api/v1/changes", change(service={"name": name, **shop}, kind="deploy", external_id=f"d-{name}")
        ).json()["id"]
    a = api.post(URL, alert()).json()
    body = api.get(f"{URL}/{a['id']}/suspects", {"limit": 20}).json()
    relation = {s["change"]["id"]: s["relation"] for s in body["suspects"]}
    assert relation == {
        posted["data-processor"]: "self",
        posted["rest-api"]: "down",
        posted["frontend"]: "up",
        posted["mailer"]: "none",
    }
    unlinked = next(s for s in body["suspects"] if s["relation"] == "none")
    assert any(r.startswith("No known dependency: same") for r in unlinked["reasons"])
    # stored before the field existed: null, not a guess
    Suspect.objects.filter(alert_id=a["id"]).update(relation="")
    stored = api.get(f"{URL}/{a['id']}/suspects", {"limit": 20}).json()["suspects"]
    assert {s["relation"] for s in stored} == {None}


def test_an_alert_with_no_change_around_it_says_no_change_stands_out(api):
    a = api.post(URL, alert()).json()
    body = api.get(f"{URL}/{a['id']}/suspects").json()
    assert body["suspects"] == [] and body["no_change_stands_out"] is True


def test_a_deep_replica_cut_just_before_the_alert_stands_out(api):
    a, _ = _story(api)
    _scale(api, summary="Scaled rest-api", external_id="scale-2", details={"replicas": {"from": 50, "to": 5}})
    body = api.get(f"{URL}/{a['id']}/suspects").json()
    assert body["suspects"][0]["change"]["external_id"] == "scale-2"
    assert any(r.startswith("replicas 50 → 5") for r in body["suspects"][0]["reasons"])
    assert body["no_change_stands_out"] is False


def test_suspects_include_a_change_posted_after_the_alert(api):
    a, _ = _story(api)
    api.get(f"{URL}/{a['id']}/suspects")
    time.sleep(0.01)  # updated_at must be later than suspects_computed_at
    late = api.post(
        "/api/v1/changes",
        change(
            service={"name": "rest-api", "namespace": "shop", "cluster": "prod-us"},
            kind="config",
            summary="late config edit",
            external_id="late-1",
            timestamp="2026-11-21T10:09:00Z",
        ),
    ).json()
    suspects = api.get(f"{URL}/{a['id']}/suspects").json()["suspects"]
    assert late["id"] in [s["change"]["id"] for s in suspects]


def test_suspects_limit_is_validated(api):
    a, _ = _story(api)
    assert len(api.get(f"{URL}/{a['id']}/suspects", {"limit": 1}).json()["suspects"]) == 1
    assert_problem(api.get(f"{URL}/{a['id']}/suspects", {"limit": 0}), 400, "limit")
    assert_problem(api.get(f"{URL}/{a['id']}/suspects", {"limit": "ten"}), 400, "limit")
    assert_problem(api.get(f"{URL}/424242/suspects"), 404)


def test_feedback_is_recorded_then_replaced(api):
    a, c = _story(api)
    first = api.post(f"{URL}/{a['id']}/feedback", {"change_id": c["id"], "verdict": "caused"})
    assert first.status_code == 201 and first.json()["verdict"] == "caused"
    assert first.json()["author"] == "token:test"
    second = api.post(f"{URL}/{a['id']}/feedback", {"change_id": c["id"], "verdict": "unrelated"})
    assert second.status_code == 200
    assert Feedback.objects.get().verdict == "unrelated"


def test_a_verdict_on_a_change_outside_the_stored_suspects_re_ranks_so_the_refit_can_learn_from_it(api):
    a, c = _story(api)
    for i in range(12):  # more risky changes than are stored, all closer to the alert than the old one
        _scale(api, summary="replicas 50 → 5", external_id=f"scale-more-{i}")
    old = _scale(api, summary="replicas 4 → 3", external_id="old", timestamp="2026-11-21T02:00:00Z")
    listed = api.get(f"{URL}/{a['id']}/suspects").json()["suspects"]
    assert old["id"] not in [s["change"]["id"] for s in listed]
    assert api.post(f"{URL}/{a['id']}/feedback", {"change_id": old["id"], "verdict": "caused"}).status_code == 201
    stored = list(Suspect.objects.filter(alert_id=a["id"]).order_by("rank").values_list("change_id", "score"))
    assert stored[0] == (old["id"], 1.0)
    from changetrack.correlation import tuning

    samples = tuning.verdict_samples(Alert.objects.get(pk=a["id"]).started_at.replace(year=2000))
    assert sum(y for _, y in samples) == 1 and len(samples) == len(stored)


def test_feedback_on_an_unknown_alert_is_404_and_an_unknown_change_is_400(api):
    a, c = _story(api)
    assert_problem(api.post(f"{URL}/999999/feedback", {"change_id": c["id"], "verdict": "caused"}), 404)
    body = assert_problem(
        api.post(f"{URL}/{a['id']}/feedback", {"change_id": 999999, "verdict": "caused"}), 400, "change_id"
    )
    assert "999999" in body["detail"]
    assert not Feedback.objects.exists()


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({"change_id": 1, "verdict": "maybe"}, ("verdict",)),
        ({"verdict": "caused"}, ("change_id",)),
        ({"change_id": "one", "verdict": "caused"}, ("change_id",)),
        ({"change_id": 2**70, "verdict": "caused"}, ("change_id",)),
        ({"change_id": 1, "verdict": "caused", "note": "x"}, ("note",)),
        ([{"change_id": 1, "verdict": "caused"}], ("body",)),
    ],
)
def test_bad_feedback_is_400(api, body, fields):
    a, _ = _story(api)
    assert_problem(api.post(f"{URL}/{a['id']}/feedback", body), 400, *fields)
    assert not Feedback.objects.exists()


def test_feedback_needs_the_write_scope(api, make_api):
    a, c = _story(api)
    reader = make_api(("read",), name="reader")
    assert_problem(reader.post(f"{URL}/{a['id']}/feedback", {"change_id": c["id"], "verdict": "caused"}), 403)


@pytest.mark.django_db(transaction=True)
def test_a_posted_alert_is_ranked_by_a_real_worker(make_api, celery_worker):
    api = make_api(("read", "write"))
    a, c = _story(api)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and not Suspect.objects.filter(alert_id=a["id"]).exists():
        time.sleep(0.1)
    assert Suspect.objects.filter(alert_id=a["id"], change_id=c["id"], rank=1).exists()
    assert Dependency.objects.count() == 1 and Change.objects.count() == 1
