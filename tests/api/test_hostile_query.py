"""Client input that used to answer 500 (finding 5 of issue 15): crafted pagination cursors on every endpoint that
takes one, and NUL characters in query parameters and web forms. Each is a 400 problem+json now."""

from __future__ import annotations

import base64

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from changetrack.models import ServiceAlias

pytestmark = pytest.mark.django_db

CRAFTED = [
    base64.b64encode(raw).decode()
    for raw in (b"p=2026", b"p=2026-13-45T99:00:00", b"o=1&p=yesterday", b"p=a%00b", b"p=\x00", b"r=1&p=2026")
]
#: services ordered by name take any text as a position, except a NUL
CRAFTED_FOR_SERVICES = [base64.b64encode(raw).decode() for raw in (b"p=\x00", b"p=a%00b")]


def _problem(answer) -> None:
    assert answer.status_code == 400, answer.content
    assert answer["Content-Type"].startswith("application/problem+json")


@pytest.fixture
def service_id(api) -> int:
    return api.post(
        "/api/v1/changes",
        {"service": "checkout", "kind": "deploy", "summary": "s", "timestamp": "2026-11-21T10:04:00Z"},
    ).json()["service"]["id"]


@pytest.mark.parametrize("cursor", CRAFTED)
@pytest.mark.parametrize("path", ["/api/v1/changes", "/api/v1/alerts", "/api/v1/services/{id}/timeline"])
def test_a_crafted_cursor_is_a_400_problem_on_every_paginated_endpoint(api, service_id, path, cursor):
    _problem(api.get(path.format(id=service_id), {"cursor": cursor}))


@pytest.mark.parametrize("cursor", CRAFTED_FOR_SERVICES)
def test_a_crafted_cursor_on_the_service_list_is_a_400_problem(api, cursor):
    _problem(api.get("/api/v1/services", {"cursor": cursor}))


def test_a_cursor_the_api_wrote_still_pages(api, service_id):
    for n in range(3):
        api.post(
            "/api/v1/changes",
            {"service": "checkout", "kind": "deploy", "summary": f"s{n}", "timestamp": f"2026-11-21T10:0{n}:00Z"},
        )
    first = api.get("/api/v1/changes", {"limit": 2}).json()
    second = api.client.get(first["next"], **api._headers(None))
    assert second.status_code == 200 and len(second.json()["results"]) == 2


@pytest.fixture
def web(db) -> Client:
    client = Client()
    client.force_login(get_user_model().objects.create_superuser("nul-admin", password="x"))
    return client


@pytest.mark.parametrize("path", ["/", "/changes/", "/alerts/", "/delivery/", "/unmapped/"])
@pytest.mark.parametrize("query", ["q=a%00b", "cluster=%00", "cursor=%00", "since=2026%00", "a%00=1"])
def test_a_nul_in_a_query_parameter_of_a_page_is_a_400_problem(web, path, query):
    _problem(web.get(f"{path}?{query}"))


@pytest.mark.parametrize("query", ["q=a%00b", "cursor=%00", "kind=%00"])
def test_a_nul_in_a_query_parameter_of_the_api_is_a_400_problem(api, query):
    _problem(api.client.get(f"/api/v1/changes?{query}", **api._headers(None)))


def test_a_nul_in_the_unmapped_map_form_is_a_400_and_maps_nothing(web):
    _problem(web.post("/unmapped/map/", {"match": "team=pay\x00", "scope": "any", "service": "checkout\x00"}))
    assert not ServiceAlias.objects.exists()


@pytest.mark.parametrize("cursor", CRAFTED)
@pytest.mark.parametrize("path", ["/changes/", "/alerts/"])
def test_a_crafted_cursor_on_a_page_is_never_a_500(web, path, cursor):
    assert web.get(path, {"cursor": cursor}).status_code in (200, 400)


@pytest.mark.parametrize("path", ["/api/v1/metrics/delivery", "/alerts/", "/healthz"])
def test_a_host_header_not_allowed_is_a_400_problem_not_an_html_page(path):
    answer = Client().get(path, HTTP_HOST="0")  # found by the schema fuzz: Django's own 400 page was HTML
    _problem(answer)
    assert "Host header" in answer.json()["detail"]
