"""View tests for every page, through Django's client against the real database."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta

import pytest

from changetrack.models import Change, Cluster, Service
from changetrack.web.explorer import PAGE_SIZE

pytestmark = pytest.mark.django_db

PAGES = [
    "/",
    "/services/1/",
    "/services/1/timeline.json",
    "/services/1/likely/",
    "/changes/",
    "/changes/1/",
    "/alerts/1/",
    "/alerts/1/timeline.json",
    "/integrations/",
    "/integrations/new/generic/",
    f"/integrations/{uuid.uuid4()}/",
    "/delivery/",
    "/live.json",
]


@pytest.mark.parametrize("path", PAGES)
def test_every_page_sends_an_anonymous_visitor_to_the_login_page(client, path):
    response = client.get(path)
    assert response.status_code == 302
    assert response["Location"].startswith("/login/?next=")


@pytest.mark.parametrize("path", ["/alerts/1/feedback/", f"/integrations/{uuid.uuid4()}/replay/"])
def test_posting_without_logging_in_changes_nothing_and_redirects_to_login(client, path):
    response = client.post(path, {"change_id": 1, "verdict": "caused"})
    assert response.status_code == 302 and response["Location"].startswith("/login/")


def test_logging_in_with_the_form_leads_to_the_service_explorer(client, user):
    page = client.get("/login/")
    assert page.status_code == 200 and b'name="password"' in page.content
    response = client.post("/login/", {"username": "oncall", "password": "correct horse battery staple"}, follow=True)
    assert response.redirect_chain[-1][0] == "/"
    assert b"<h1>Services</h1>" in response.content


def test_a_wrong_password_stays_on_the_login_page_with_an_error(client, user):
    response = client.post("/login/", {"username": "oncall", "password": "nope"})
    assert response.status_code == 200 and b"password didn't match" in response.content


# --- service explorer ---------------------------------------------------------------------------------------


def test_the_explorer_says_how_to_start_when_there_are_no_services(web):
    response = web.get("/")
    assert b"No services yet" in response.content


def test_the_explorer_lists_every_service_with_health_and_recent_changes(web, demo):
    response = web.get("/")
    text = response.content.decode()
    assert response.status_code == 200
    assert text.count('href="/services/') == Service.objects.count()
    row = re.search(r"data-processor</a>.*?</tr>", text, re.S).group(0)
    assert "1 open alert" in row
    assert "HPA scaled data-processor 6 → 8" in row  # its last change


@pytest.mark.parametrize(
    ("query", "present", "absent"),
    [
        ("cluster=prod-eu", "prod-eu", "prod-us"),
        ("team=data", "data-processor", "checkout"),
        ("q=rest", "rest-api", "checkout"),
        ("q=platform/auth", "auth", "checkout"),
        ("q=prod-eu/shop/front", "prod-eu", "prod-us"),
        ("health=unhealthy", "data-processor", "checkout"),
    ],
)
def test_the_explorer_filters_by_cluster_team_search_and_health(web, demo, query, present, absent):
    rows = web.get(f"/?{query}", HTTP_HX_REQUEST="true").content.decode()  # the rows fragment alone
    assert present in rows and absent not in rows


def test_a_filter_that_matches_nothing_says_so(web, demo):
    assert b"No service matches these filters" in web.get("/?q=no-such-service").content


def _many_services(n: int) -> list[Service]:
    cluster = Cluster.objects.create(name="big")
    return Service.objects.bulk_create(
        [Service(cluster=cluster, namespace="ns", name=f"svc-{i:03d}", team="crowd") for i in range(n)]
    )


def test_the_explorer_pages_through_many_services_keeping_the_filters(web):
    _many_services(PAGE_SIZE + 5)
    first = web.get("/?team=crowd").content.decode()
    assert first.count('href="/services/') == PAGE_SIZE and "svc-000" in first and "svc-104" not in first
    assert f"1–{PAGE_SIZE} of {PAGE_SIZE + 5} services" in first
    assert 'href="?team=crowd&amp;page=2"' in first
    second = web.get("/?team=crowd&page=2").content.decode()
    assert second.count('href="/services/') == 5 and "svc-104" in second and "svc-000" not in second
    assert 'href="?team=crowd&amp;page=1"' in second


@pytest.mark.parametrize(("number", "expected"), [("999", "svc-104"), ("x", "svc-000"), ("-1", "svc-104")])
def test_a_page_number_out_of_range_or_not_a_number_still_shows_a_page(web, number, expected):
    _many_services(PAGE_SIZE + 5)
    response = web.get(f"/?page={number}")
    assert response.status_code == 200 and expected in response.content.decode()


# --- service page and timeline ----------------------------------------------------------------------------------


def _service(name: str, cluster: str = "prod-us") -> Service:
    return Service.objects.get(name=name, cluster__name=cluster)


def test_a_service_page_shows_its_lane_and_its_neighbours_lanes(web, demo):
    rest = _service("rest-api")
    response = web.get(f"/services/{rest.pk}/?depth=1")
    data = response.context["data"]
    lanes = [lane["name"] for lane in data["lanes"]]
    assert lanes[0] == "rest-api" and {"data-processor", "checkout", "auth"} <= set(lanes)
    assert "Deploy rest-api 2.14.0 (replicas 50 → 5)" in response.content.decode()
    assert b'id="tl-data"' in response.content  # the chart's data, inline


def test_a_service_page_lists_its_edges_with_where_each_came_from(web, demo):
    page = web.get(f"/services/{_service('checkout').pk}/").content.decode()
    depends_on, used_by = page.split("<h2>Depends on</h2>")[1].split("<h2>Used by</h2>")
    assert "kubernetes: env var REST_API_URL" in depends_on
    assert "declared via API" in depends_on and "declared: declared via API" not in depends_on
    assert "frontend" in used_by and "env var CHECKOUT_URL" in used_by
    assert '<span><a href="/delivery/?service=' in page  # the metrics link, no stray separator before it


def test_depth_zero_keeps_the_timeline_to_the_service_itself(web, demo):
    rest = _service("rest-api")
    data = web.get(f"/services/{rest.pk}/timeline.json?depth=0").json()
    assert [lane["name"] for lane in data["lanes"]] == ["rest-api"]
    assert all(c["lane"] == rest.pk for c in data["changes"])


def test_the_timeline_filters_by_kind_and_by_source(web, demo):
    rest = _service("rest-api")
    data = web.get(f"/services/{rest.pk}/timeline.json?depth=0&range=24h&kind=deploy").json()
    assert data["changes"] and {c["kind"] for c in data["changes"]} == {"deploy"}
    data = web.get(f"/services/{rest.pk}/timeline.json?depth=0&range=24h&source=jenkins").json()
    assert [c["summary"] for c in data["changes"]] == ["Jenkins rest-api-deploy #318: succeeded (91dc324 on main)"]


def test_the_timeline_window_follows_since_and_until(web, demo):
    rest = _service("rest-api")
    deploy = Change.objects.get(external_id="demo-rest-deploy")
    since = (deploy.occurred_at - timedelta(minutes=1)).isoformat()
    until = (deploy.occurred_at + timedelta(minutes=1)).isoformat()
    data = web.get(f"/services/{rest.pk}/timeline.json", {"depth": 0, "since": since, "until": until}).json()
    assert [c["id"] for c in data["changes"]] == [deploy.pk]
    assert data["live"] is False


def test_alerts_on_the_timeline_are_bands_with_an_open_end(web, demo):
    proc = _service("data-processor")
    data = web.get(f"/services/{proc.pk}/timeline.json?range=1h&depth=0").json()
    assert [(a["title"], a["end"]) for a in data["alerts"]] == [("data-processor error rate above 5%", None)]


@pytest.mark.parametrize(
    "query",
    [
        "depth=9",
        "depth=x",
        "since=yesterday&until=garbage",
        "span=-5",
        "range=99y",
        "kind=nonsense",
        "until=2026-13-45T99:00:00Z",
    ],  # a NUL is refused before any view: tests/api/test_hostile_query.py
)
def test_nonsense_timeline_parameters_fall_back_to_defaults_instead_of_failing(web, demo, query):
    rest = _service("rest-api")
    assert web.get(f"/services/{rest.pk}/timeline.json?{query}").status_code == 200
    assert web.get(f"/services/{rest.pk}/?{query}").status_code == 200


def test_an_empty_window_says_so(web, demo):
    rest = _service("rest-api")
    response = web.get(f"/services/{rest.pk}/", {"since": "2020-01-01T00:00:00Z", "until": "2020-01-01T01:00:00Z"})
    assert b"No changes, alerts or health episodes in this window" in response.content


def test_an_unknown_service_is_a_404(web):
    assert web.get("/services/999999/").status_code == 404
    assert web.get("/services/999999/timeline.json").status_code == 404


def test_pages_load_only_our_own_scripts_and_styles(web, demo):
    rest = _service("rest-api")
    text = web.get(f"/services/{rest.pk}/").content.decode()
    sources = re.findall(r'<(?:script|link)[^>]+(?:src|href)="([^"]+)"', text)
    assert sources and all(s.startswith("/static/changetrack/") for s in sources), sources
    assert "/static/changetrack/vendor/htmx.min.js" in sources


def test_the_vendored_htmx_keeps_its_license_header():
    from pathlib import Path

    from django.conf import settings

    vendor = Path(settings.BASE_DIR) / "changetrack" / "static" / "changetrack" / "vendor"
    assert (vendor / "htmx.min.js").read_text()[:200].startswith("/*! htmx.org 2.0.11")
    assert "Zero-Clause BSD" in (vendor / "htmx.LICENSE").read_text()


def test_times_are_rendered_as_utc_time_elements_for_the_browser_to_localise(web, demo):
    text = web.get("/changes/?minutes=60").content.decode()
    stamps = re.findall(r'<time datetime="([^"]+)" title="([^"]+)"', text)
    assert stamps and all(iso.endswith("+00:00") and title.endswith("UTC") for iso, title in stamps)


def test_the_service_page_loads_what_changed_nearby_ranked_as_an_alert_now_would(web, demo):
    page = web.get(f"/services/{_service('data-processor').pk}/").content.decode()
    likely_url = f"/services/{_service('data-processor').pk}/likely/"
    assert f'hx-get="{likely_url}"' in page and 'hx-trigger="load"' in page
    fragment = web.get(likely_url, HTTP_HX_REQUEST="true")
    rows = fragment.context["rows"]
    assert rows and rows[0][1].summary == "Deploy rest-api 2.14.0 (replicas 50 → 5)"  # the demo's culprit, now too
    text = fragment.content.decode()
    assert "<html" not in text and "data-processor → rest-api" in text
    assert " ago" in text and "before the alert" not in text  # there is no alert: the moment is now
    assert "<html" in web.get(likely_url).content.decode()  # without htmx: a page of its own
    lonely = Service.objects.create(namespace="shop", name="lonely")  # no changes, no edges
    quiet = web.get(f"/services/{lonely.pk}/likely/", HTTP_HX_REQUEST="true")
    assert quiet.context["rows"] == [] and b"Nothing changed on lonely" in quiet.content
    assert web.get("/services/999999/likely/").status_code == 404
