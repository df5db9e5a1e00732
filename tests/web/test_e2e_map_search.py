"""The service map and the search in real headless Chromium, under the app's Content-Security-Policy (no inline
script, no eval: the ``page`` fixture fails a test on any CSP violation or script error).

Screenshots land in ``artifacts/screenshots/`` (git-ignored)."""

from __future__ import annotations

import pytest

from changetrack import roles
from tests.web.test_e2e import PASSWORD, browser, login, page, pytestmark, shot  # noqa: F401  (fixtures, marks)
from tests.web.test_map import shop  # noqa: F401  (a fixture: five services, edges, an alert with a suspect)
from tests.web.test_search import SHA, changes  # noqa: F401  (a fixture: changes as the integrations store them)

RENDERED = "#service-map[data-rendered]"


@pytest.fixture
def oncall(django_user_model):
    user = django_user_model.objects.create_user("oncall", password=PASSWORD)
    roles.set_role(user, roles.VIEWER)
    return user


def click_node(pg, name: str) -> str:
    """Click the service ``name`` where cytoscape drew it; returns the URL it should open."""
    spot = pg.evaluate(
        """(name) => {
            const node = window.ctMap.nodes('node.service').filter((n) => n.data('service').name === name)[0];
            const at = node.renderedPosition();
            return {x: at.x, y: at.y, url: node.data('service').url};
        }""",
        name,
    )
    box = pg.locator("#service-map").bounding_box()
    pg.mouse.click(box["x"] + spot["x"], box["y"] + spot["y"])
    return spot["url"]


@pytest.mark.django_db(transaction=True)
def test_the_map_renders_every_service_filters_and_a_click_opens_the_service_page(page, live_server, oncall, shop):  # noqa: F811
    base = live_server.url
    login(page, base)
    page.click("nav >> text=Map")
    box = page.wait_for_selector(RENDERED)
    assert box.get_attribute("data-rendered") == "5" and box.get_attribute("data-edges") == "4"
    assert box.get_attribute("data-layout") == "dagre"
    assert page.evaluate("window.ctMap.nodes('.cluster').length") == 2  # grouped by cluster, then namespace
    shot(page, "map-01-whole")

    page.select_option("select[name=cluster]", "prod-us")
    page.select_option("select[name=namespace]", "shop")
    page.click("button:has-text('Show')")
    box = page.wait_for_selector(RENDERED)
    assert box.get_attribute("data-rendered") == "3"
    names = page.evaluate("window.ctMap.nodes('node.service').map((n) => n.data('service').name).sort()")
    assert names == ["checkout", "frontend", "rest-api"]
    shot(page, "map-02-filtered")

    page.hover("#service-map")  # pointing at a service shows its details beside the map
    url = click_node(page, "rest-api")
    page.wait_for_url(base + url)
    assert page.locator("h1").inner_text().startswith("rest-api")


@pytest.mark.django_db(transaction=True)
def test_centring_on_an_alert_from_its_page_highlights_the_path_to_its_suspect(page, live_server, oncall, shop):  # noqa: F811
    base, alert = live_server.url, shop["alert"]
    login(page, base)
    page.goto(f"{base}/alerts/{alert.pk}/")
    page.click("#centre-on-map")
    page.wait_for_url(f"{base}/map/?alert={alert.pk}")
    box = page.wait_for_selector(RENDERED)
    assert box.get_attribute("data-path-edges") == "1"  # checkout → rest-api
    marked = page.evaluate(
        """() => ({
            focus: window.ctMap.nodes('.focus').map((n) => n.data('service').name),
            suspects: window.ctMap.nodes('.suspect').map((n) => n.data('rankLabel')),
            faded: window.ctMap.nodes('node.service.faded').map((n) => n.data('service').name).sort(),
        })"""
    )
    # the alert page ranked again: rest-api's deploy first, its older config change second, both on one node
    assert marked["focus"] == ["checkout"] and marked["suspects"] == ["rest-api\n#1 #2"]
    assert marked["faded"] == ["billing", "frontend"]  # shown, but off the suspect's path
    # and beside the map, as links a keyboard reaches
    suspects = page.locator("#map-details .map-suspects li")
    assert suspects.count() == 2 and suspects.first.locator("a").inner_text() == "rest-api"
    shot(page, "map-03-alert")
    page.click("text=show the whole map")
    assert page.wait_for_selector(RENDERED).get_attribute("data-rendered") == "5"


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("query", "summary"),
    [
        (SHA[:7], "deploy deploy-rest"),  # a short SHA
        ("rest-api:1.4.2", "deploy deploy-rest"),  # an image tag
        ("priya", "feature_flag flag-on"),  # an actor
        ("new-payment-flow", "feature_flag flag-on"),  # a flag key
    ],
)
def test_the_top_bar_search_finds_the_change(page, live_server, oncall, changes, query, summary):  # noqa: F811
    base = live_server.url
    login(page, base)
    page.fill("header .top-search input[name=q]", query)
    page.press("header .top-search input[name=q]", "Enter")
    page.wait_for_selector("#search-results")
    rows = page.locator("#search-results tbody tr")
    assert rows.count() == 1 and summary in rows.first.inner_text()
    shot(page, f"search-{query.replace(':', '_')}")
    page.click(f"#search-results >> text={summary}")
    page.wait_for_selector("h1")
    assert "/changes/" in page.url
