"""POST/GET /api/v1/changes and GET /api/v1/changes/{id}: writes, idempotency, every bad input, reads."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import override_settings

from changetrack.ingest.store import store_records
from changetrack.models import Alert, Change, Cluster, Service
from integrations.base import ChangeRecord, ServiceHint, parse_time
from tests.api.conftest import alert, assert_problem, change

pytestmark = pytest.mark.django_db
URL = "/api/v1/changes"


def test_a_change_is_created_with_201_and_every_field(api):
    response = api.post(URL, change())
    assert response.status_code == 201
    body = response.json()
    assert body["external_id"] == "release-2.14.0-prod-us" and body["kind"] == "deploy"
    assert body["timestamp"] == "2026-11-21T10:04:00Z" and body["actor"] == "dana@example.com"
    assert body["details"] == {"version": {"from": "2.13.2", "to": "2.14.0"}}
    assert body["links"] == [{"title": "Release notes", "url": "https://example.com/r/2.14.0"}]
    service = Service.objects.get()
    assert body["service"] == {"id": service.pk, "name": "checkout", "namespace": "shop", "cluster": "prod-us"}
    stored = Change.objects.get()
    assert stored.pk == body["id"] and stored.source == "api" and stored.service == service


def test_posting_the_same_external_id_again_answers_200_with_the_existing_change(api):
    first = api.post(URL, change()).json()
    again = api.post(URL, change())
    assert again.status_code == 200
    assert again.json()["id"] == first["id"] and again.json()["updated"] is False
    assert Change.objects.count() == 1


def test_a_change_without_external_id_gets_a_generated_one(api):
    body = api.post(URL, change(external_id=...)).json()
    assert body["external_id"].startswith("api-")
    assert Change.objects.get().external_id == body["external_id"]


def test_a_bare_service_name_creates_the_service(api):
    body = api.post(URL, change(service="billing")).json()
    assert body["service"]["name"] == "billing" and body["service"]["cluster"] == ""
    assert Service.objects.filter(name="billing", cluster=None, namespace="").exists()


def test_an_array_is_stored_whole_and_answered_in_input_order(api):
    api.post(URL, change(external_id="known"))
    items = [change(external_id=f"e{i}", summary=f"change {i}") for i in range(5)] + [change(external_id="known")]
    response = api.post(URL, items)
    assert response.status_code == 201
    results = response.json()["results"]
    assert [r["external_id"] for r in results] == ["e0", "e1", "e2", "e3", "e4", "known"]
    assert [r["created"] for r in results] == [True] * 5 + [False]
    assert Change.objects.count() == 6
    assert Change.objects.get(external_id="e3").pk == results[3]["id"]


def test_an_array_of_1000_is_accepted(api):
    items = [change(external_id=f"bulk-{i}") for i in range(1000)]
    response = api.post(URL, items)
    assert response.status_code == 201 and len(response.json()["results"]) == 1000
    assert Change.objects.count() == 1000


def test_an_array_over_1000_items_is_400_and_stores_nothing(api):
    body = assert_problem(api.post(URL, [change(external_id=f"x{i}") for i in range(1001)]), 400, "body")
    assert "1000" in body["detail"] or "1000" in body["errors"][0]["detail"]
    assert not Change.objects.exists()


def test_an_array_with_bad_items_is_rejected_whole_naming_each_index(api):
    items = [
        change(external_id="ok-0"),
        change(external_id="bad-1", kind="teleport"),
        change(external_id="ok-2"),
        change(external_id="bad-3", timestamp="2026-11-21T10:04:00"),
    ]
    body = assert_problem(api.post(URL, items), 400, "[1].kind", "[3].timestamp")
    assert {e["index"] for e in body["errors"]} == {1, 3}
    assert "nothing was stored" in body["detail"]
    assert not Change.objects.exists() and not Service.objects.exists()


def test_an_array_item_that_is_not_an_object_is_named(api):
    body = assert_problem(api.post(URL, [change(), "nope"]), 400, "[1]")
    assert body["errors"][0]["index"] == 1


def test_malformed_json_is_400(api):
    body = assert_problem(api.post(URL, b'{"service": "x",'), 400)
    assert "Malformed JSON" in body["detail"]
    assert not Change.objects.exists()


def test_nan_is_not_json_400(api):
    assert_problem(api.post(URL, b'{"service": "x", "details": {"v": NaN}}'), 400)


def test_a_nul_character_is_400_not_a_database_error(api):
    assert_problem(api.post(URL, change(summary="bad\u0000summary")), 400)
    assert_problem(api.post(URL, change(details={"k": "\u0000"})), 400)
    assert not Change.objects.exists()


def test_a_body_that_is_not_json_is_415(api):
    response = api.post(URL, "kind=deploy", content_type="application/x-www-form-urlencoded")
    body = assert_problem(response, 415)
    assert "application/x-www-form-urlencoded" in body["detail"]
    assert_problem(api.post(URL, "hello", content_type="text/plain"), 415)
    assert not Change.objects.exists()


def test_a_body_that_is_a_json_scalar_is_400(api):
    assert_problem(api.post(URL, b'"just a string"'), 400, "body")


@override_settings(API_MAX_BODY_BYTES=2000)
def test_a_body_over_the_size_limit_is_413_and_stores_nothing(api):
    body = assert_problem(api.post(URL, [change(external_id=f"big-{i}") for i in range(20)]), 413)
    assert "2000-byte limit" in body["detail"]
    assert not Change.objects.exists()


@pytest.mark.parametrize("missing", ["service", "kind", "summary", "timestamp"])
def test_a_missing_required_field_is_400_naming_it(api, missing):
    body = assert_problem(api.post(URL, change(**{missing: ...})), 400, missing)
    assert "required" in body["errors"][0]["detail"]
    assert not Change.objects.exists()


def test_an_extra_field_is_400_naming_it(api):
    body = assert_problem(api.post(URL, change(colour="blue", summry="typo")), 400, "colour", "summry")
    assert all(e["detail"] == "Unknown field." for e in body["errors"])


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("summary", 42),
        ("kind", 7),
        ("timestamp", 1763719440),
        ("details", [1, 2]),
        ("links", "http://x"),
        ("actor", ["dana"]),
        ("service", 12),
        ("external_id", 5),
        ("links", [{"url": 3}]),
    ],
)
def test_a_wrongly_typed_field_is_400(api, field, value):
    body = assert_problem(api.post(URL, change(**{field: value})), 400)
    assert body["errors"][0]["field"].startswith(field)
    assert not Change.objects.exists()


def test_a_summary_over_1024_characters_is_400(api):
    body = assert_problem(api.post(URL, change(summary="x" * 1025)), 400, "summary")
    assert "1024" in body["detail"]
    assert api.post(URL, change(summary="x" * 1024)).status_code == 201


@pytest.mark.parametrize("stamp", ["2026-11-21T10:04:00", "2026-11-21 10:04:00", "2026-11-21"])
def test_a_timestamp_without_offset_is_400(api, stamp):
    body = assert_problem(api.post(URL, change(timestamp=stamp)), 400, "timestamp")
    assert "offset" in body["detail"]


@pytest.mark.parametrize("stamp", ["yesterday", "2026-13-45T10:00:00Z", "9999-12-31T23:59:59-01:00"])
def test_an_invalid_timestamp_is_400(api, stamp):
    assert_problem(api.post(URL, change(timestamp=stamp)), 400, "timestamp")


def test_an_offset_timestamp_is_stored_in_utc(api):
    body = api.post(URL, change(timestamp="2026-11-21T12:04:00+02:00")).json()
    assert body["timestamp"] == "2026-11-21T10:04:00Z"


def test_an_unknown_kind_is_400_listing_nothing_stored(api):
    body = assert_problem(api.post(URL, change(kind="teleport")), 400, "kind")
    assert "teleport" in body["detail"]


def test_an_unknown_severity_is_400(api):
    assert_problem(api.post(URL, change(severity="apocalyptic")), 400, "severity")


def test_a_bad_service_reference_names_the_subfield(api):
    assert_problem(api.post(URL, change(service={"namespace": "shop"})), 400, "service.name")
    assert_problem(api.post(URL, change(service={"name": "x", "team": "y"})), 400, "service")


def test_a_bare_name_matching_several_services_is_400_listing_them_and_stores_nothing(api):
    for cluster in ("prod-us", "prod-eu"):
        Service.objects.create(cluster=Cluster.objects.create(name=cluster), namespace="shop", name="checkout")
    body = assert_problem(
        api.post(URL, [change(external_id="a", service="fresh-service"), change(external_id="b", service="checkout")]),
        400,
        "[1].service",
    )
    entry = body["errors"][0]
    assert entry["index"] == 1
    assert sorted(c["cluster"] for c in entry["candidates"]) == ["prod-eu", "prod-us"]
    assert "prod-eu/shop/checkout" in entry["detail"]
    assert not Change.objects.exists()
    assert not Service.objects.filter(name="fresh-service").exists()


def test_a_service_path_names_namespace_and_cluster_the_way_kubectl_does(api):
    for cluster in ("prod-us", "prod-eu"):
        Service.objects.create(cluster=Cluster.objects.create(name=cluster), namespace="shop", name="checkout")
    assert_problem(api.post(URL, change(external_id="a", service="shop/checkout")), 400, "service")  # two clusters
    body = api.post(URL, change(external_id="b", service="prod-eu/shop/checkout")).json()
    assert body["service"] == {
        "id": Service.objects.get(cluster__name="prod-eu").pk,
        "name": "checkout",
        "namespace": "shop",
        "cluster": "prod-eu",
    }
    created = api.post(URL, change(external_id="c", service=" payments / billing ")).json()["service"]
    assert (created["namespace"], created["name"], created["cluster"]) == ("payments", "billing", "")
    for bad in ("a/b/c/d", "shop/", "x" * 254):
        assert_problem(api.post(URL, change(external_id="d", service=bad)), 400, "service.name")
    assert Change.objects.count() == 2


def test_list_filters_and_cursor_pagination(api):
    stored = [
        ("1", "deploy", "Deploy api", "10", "api/shop/prod"),
        ("2", "config", "Edit ConfigMap", "11", "api/shop/prod"),
        ("3", "scale", "Scale worker", "12", "worker/jobs/stage"),
    ]
    api.post(
        URL,
        [
            change(
                external_id=external_id,
                kind=kind,
                summary=summary,
                timestamp=f"2026-11-21T{hour}:00:00Z",
                service=dict(zip(("name", "namespace", "cluster"), path.split("/"), strict=True)),
            )
            for external_id, kind, summary, hour, path in stored
        ],
    )
    ids = lambda r: [c["external_id"] for c in r.json()["results"]]  # noqa: E731
    assert ids(api.get(URL)) == ["3", "2", "1"]
    assert ids(api.get(URL, {"kind": "deploy,config"})) == ["2", "1"]
    assert ids(api.get(URL, {"cluster": "stage"})) == ["3"]
    assert ids(api.get(URL, {"namespace": "shop"})) == ["2", "1"]
    assert ids(api.get(URL, {"q": "configmap"})) == ["2"]
    assert ids(api.get(URL, {"since": "2026-11-21T10:30:00Z", "until": "2026-11-21T11:30:00Z"})) == ["2"]
    assert ids(api.get(URL, {"source": "api"})) == ["3", "2", "1"]
    assert ids(api.get(URL, {"source": "github"})) == []
    worker = Service.objects.get(name="worker")
    assert ids(api.get(URL, {"service": worker.pk})) == ["3"]
    page = api.get(URL, {"limit": 2}).json()
    assert [c["external_id"] for c in page["results"]] == ["3", "2"] and page["next"]
    rest = api.get(page["next"]).json()
    assert [c["external_id"] for c in rest["results"]] == ["1"] and rest["next"] is None


def test_list_filters_reject_bad_values_with_400(api):
    assert_problem(api.get(URL, {"since": "2026-11-21T10:30:00"}), 400, "since")
    assert_problem(api.get(URL, {"until": "soon"}), 400, "until")
    assert_problem(api.get(URL, {"service": "abc"}), 400, "service")
    assert_problem(api.get(URL, {"cursor": "garbage"}), 400, "cursor")
    assert_problem(api.get(URL, {"q": "a\x00b"}), 400)


def test_a_change_is_read_with_its_diff_links_and_release_siblings(api):
    at = parse_time("2026-11-21T10:04:00Z")
    store_records(
        [
            ChangeRecord(
                source="github",
                external_id="push-1",
                kind="commit",
                occurred_at=at,
                summary="Merge #12",
                service=ServiceHint(name="checkout", create=True),
                commit_sha="abcdef1234567890",
            ),
            ChangeRecord(
                source="argocd",
                external_id="sync-1",
                kind="deploy",
                occurred_at=at,
                summary="Sync checkout",
                service=ServiceHint(name="checkout", create=True),
                commit_sha="ABCDEF1234567890ff",
                diff=({"path": "spec.replicas", "before": 50, "after": 5},),
                links=({"title": "Argo", "url": "https://argo.example.com"},),
            ),
            ChangeRecord(
                source="github",
                external_id="push-2",
                kind="commit",
                occurred_at=at,
                summary="Unrelated",
                service=ServiceHint(name="checkout", create=True),
                commit_sha="0000001234567890",
            ),
        ]
    )
    deploy = Change.objects.get(external_id="sync-1")
    body = api.get(f"{URL}/{deploy.pk}").json()
    assert body["diff"] == [{"path": "spec.replicas", "before": 50, "after": 5}]
    assert body["links"] == [{"title": "Argo", "url": "https://argo.example.com"}]
    assert [r["external_id"] for r in body["related"]] == ["push-1"]


def test_an_unknown_change_id_is_404(api):
    body = assert_problem(api.get(f"{URL}/987654"), 404)
    assert "987654" in body["detail"]
    assert_problem(api.get(f"{URL}/99999999999999999999999"), 404)


def test_the_problem_body_is_valid_json_with_content_type(api):
    response = api.post(URL, change(kind="teleport"))
    assert json.loads(response.content)["errors"][0]["field"] == "kind"


def test_a_non_numeric_id_or_unknown_api_path_is_a_problem_404(api):
    assert_problem(api.get(f"{URL}/abc"), 404)
    assert_problem(api.get("/api/v1/nothing-here"), 404)
    assert_problem(api.post("/api/v1/alerts/abc/feedback", {"change_id": 1, "verdict": "caused"}), 404)


def test_options_is_405_not_a_500(api):
    response = api.client.options(URL, HTTP_AUTHORIZATION=f"Bearer {api.token}")
    assert_problem(response, 405)


def test_a_lone_surrogate_is_400_not_a_database_error(api):
    raw = b'{"service": "x", "kind": "deploy", "summary": "\\ud800", "timestamp": "2026-11-21T10:04:00Z"}'
    assert_problem(api.post(URL, raw), 400)
    assert not Change.objects.exists()


def test_a_number_too_large_for_the_database_is_400(api):
    raw = json.dumps(change()).replace('"details": {', '"details": {"huge": 1e400, ').encode()
    body = assert_problem(api.post(URL, raw), 400)
    assert "out of range" in body["detail"]
    assert not Change.objects.exists()


def test_alias_rules_still_win_over_an_exact_identity_in_a_batch(api):
    cluster = Cluster.objects.create(name="prod-us")
    Service.objects.create(cluster=cluster, namespace="shop", name="checkout")
    target = Service.objects.create(cluster=cluster, namespace="shop", name="checkout-v2")
    from changetrack.models import ServiceAlias

    ServiceAlias.objects.create(key="name", value="checkout", service=target)
    results = api.post(
        URL,
        [
            change(external_id="a1"),
            change(external_id="a2", service={"name": "other", "namespace": "shop", "cluster": "prod-us"}),
        ],
    ).json()["results"]
    assert Change.objects.get(pk=results[0]["id"]).service == target
    assert Change.objects.get(pk=results[1]["id"]).service.name == "other"


def test_a_batch_for_existing_services_maps_each_change_to_its_service(api):
    api.post(
        URL,
        [
            change(external_id=f"w{i}", service={"name": f"s{i % 3}", "namespace": "ns", "cluster": "c"})
            for i in range(6)
        ],
    )
    body = api.post(
        URL,
        [
            change(external_id=f"x{i}", service={"name": f"s{i % 3}", "namespace": "ns", "cluster": "c"})
            for i in range(6)
        ],
    ).json()
    names = [Change.objects.get(pk=r["id"]).service.name for r in body["results"]]
    assert names == ["s0", "s1", "s2", "s0", "s1", "s2"]
    assert Service.objects.count() == 3


def _careless(value: Any) -> bytes:
    """JSON as a careless sender writes it: lone surrogates kept, NaN/Infinity allowed."""
    return json.dumps(value, allow_nan=True).encode("utf-8", "surrogatepass")


API_UNSTORABLE = {
    "lone surrogate": lambda item: _careless({**item, "details": {"note": "x\ud800"}}),
    "number overflowing to infinity": lambda item: _careless({**item, "details": {"n": 1}}).replace(
        b'"n": 1', b'"n": 1e400'
    ),
    "10,000-character service name": lambda item: _careless({**item, "service": {"name": "s" * 10_000}}),
    "nesting deeper than the limit": lambda item: _careless({**item, "details": _deep(300)}),
}


def _deep(depth: int) -> dict[str, Any]:
    return {"deep": json.loads("[" * depth + "]" * depth)}


@pytest.mark.parametrize("case", list(API_UNSTORABLE))
@pytest.mark.parametrize("url,item", [(URL, change()), ("/api/v1/alerts", alert())])
def test_what_the_database_cannot_store_is_a_400_problem_on_the_api_as_on_the_webhook(api, case, url, item):
    assert_problem(api.post(url, API_UNSTORABLE[case](item)), 400)
    assert not Change.objects.exists() and not Alert.objects.exists()


def test_a_body_starting_with_a_byte_order_mark_is_accepted(api):
    # Windows PowerShell 5.1 writes one before the JSON (Out-File / Set-Content -Encoding UTF8)
    response = api.post(URL, b"\xef\xbb\xbf" + json.dumps(change()).encode())
    assert response.status_code == 201 and Change.objects.count() == 1
