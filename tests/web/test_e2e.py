"""End to end in real headless Chromium (Debian's package) against a live server, a real Celery worker,
PostgreSQL and Redis: the responder's path through the demo incident.

Screenshots of every page land in ``artifacts/screenshots/`` (git-ignored)."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest
import requests
from django.conf import settings
from django.core.management import call_command

from changetrack import roles

CHROMIUM = "/usr/bin/chromium"
SHOTS = Path(settings.BASE_DIR) / "artifacts" / "screenshots"
PASSWORD = "correct horse battery staple"

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(
        not os.path.exists(CHROMIUM),
        reason=(
            "!!! BROWSER TESTS SKIPPED: /usr/bin/chromium is missing. Install it with `make e2e-deps` "
            "(apt-get install chromium) to run the end-to-end tests. !!!"
        ),
    ),
]


@pytest.fixture
def browser(monkeypatch):
    # Playwright's sync API runs an event loop in this thread; the ORM calls the test makes are still synchronous.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser, live_server):
    context = browser.new_context(viewport={"width": 1366, "height": 900}, timezone_id="Europe/Paris")
    pg = context.new_page()
    pg.set_default_timeout(15000)
    errors: list[str] = []
    pg.on("pageerror", lambda exc: errors.append(str(exc)))
    # a script, style or fetch the Content-Security-Policy blocks is only a console message: count it as an error
    pg.on("console", lambda msg: errors.append(msg.text) if "Content Security Policy" in msg.text else None)
    yield pg
    context.close()
    assert errors == [], f"JavaScript errors or CSP violations on the pages: {errors}"


def shot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def login(page, base: str) -> None:
    page.goto(base + "/")
    assert "/login/" in page.url
    page.fill("#id_username", "oncall")
    page.fill("#id_password", PASSWORD)
    shot(page, "01-login")
    page.click("button[type=submit]")
    page.wait_for_selector("h1:has-text('Services')")


@pytest.mark.django_db(transaction=True)
def test_a_responder_finds_the_culprit_marks_it_and_sees_new_changes_arrive_live(
    page, live_server, celery_worker, django_user_model, settings
):
    from django.utils import timezone

    from changetrack.correlation.engine import current_suspects
    from changetrack.ingest.store import store_records
    from changetrack.models import Alert, Change, Connection, Feedback, Service
    from integrations.base import ChangeRecord, ServiceHint

    roles.set_role(django_user_model.objects.create_user("oncall", password=PASSWORD), roles.ADMIN)
    call_command("load_demo", verbosity=0)
    alert = Alert.objects.get(source="datadog", external_id="demo-dd-cycle-1")
    deploy = Change.objects.get(external_id="demo-rest-deploy")
    base = live_server.url
    settings.PUBLIC_URL = base  # the address users reach: the webhook URL shown is built from it

    login(page, base)
    assert page.locator("tbody tr").count() == 12
    shot(page, "02-services")

    # a platform engineer connects a script: the generated secret is shown once, on the creation page only
    page.click("nav >> text=Integrations")
    page.click("text=Generic JSON")
    page.fill("#id_name", "deploy scripts")
    shot(page, "09a-connection-new")
    page.click("button:has-text('Create connection')")
    token = page.locator("code.secret").inner_text().strip()
    webhook_url = page.locator("#webhook-url").inner_text().strip()
    assert len(token) >= 24 and webhook_url.startswith(base + "/hooks/generic/")
    shot(page, "09b-connection-created")
    page.click("text=I have copied them")
    assert token not in page.content()

    # the responder does not know where to look: "What changed" first, then the alert
    page.click("nav >> text=What changed")
    page.wait_for_selector("text=data-processor error rate above 5%")
    shot(page, "03-what-changed")
    page.click("text=data-processor error rate above 5%")
    page.wait_for_selector("#suspects-h")
    assert page.url.endswith(f"/alerts/{alert.pk}/")

    # the suspects, in the engine's order, with the replica cut first
    ranked = page.eval_on_selector_all(".suspect", "els => els.map(e => +e.dataset.change)")
    assert ranked == [s.change_id for s in current_suspects(alert, 10)]
    assert deploy.pk in ranked
    assert ranked[0] == deploy.pk, "rest-api's replicas 50 → 5 deploy must be ranked first"
    row = page.locator(f".suspect[data-change='{deploy.pk}']")
    assert "data-processor → rest-api" in row.inner_text()

    # the timeline draws lanes and markers; times are in the viewer's zone with UTC on hover
    page.wait_for_selector("[data-canvas] svg a.marker")
    assert page.locator("[data-canvas] svg a.marker").count() >= 3
    page.click("summary:has-text('List of these events')")  # folded under the chart on the alert page
    first_time = page.locator(".tl-list time").first
    assert first_time.get_attribute("title").endswith("UTC") and "UTC" not in first_time.inner_text()
    shot(page, "04-alert")

    # hover a marker: a summary appears
    page.locator(f"[data-canvas] a.marker[href='/changes/{deploy.pk}/']").hover()
    tip = page.locator("[data-tip]")
    tip.wait_for(state="visible")
    assert "replicas 50 → 5" in tip.inner_text()

    # keyboard: the chart takes focus and "+" / "-" zoom it
    canvas = page.locator("[data-canvas]")
    start = _span(canvas)
    canvas.focus()
    with page.expect_response(re.compile(r"timeline\.json")):
        page.keyboard.press("-")
    assert abs(_span(canvas) - start * 2) < 2

    # zoom in: half the span, fetched from the server for the new window, reflected in the URL
    before = _span(canvas)
    with page.expect_response(re.compile(r"/alerts/\d+/timeline\.json\?")) as resp:
        page.click("button[data-act=zoom-in]")
    assert resp.value.ok
    assert abs(_span(canvas) - before / 2) < 2
    # the alert began minutes ago, so its window ends now and stays live: the URL keeps the span, not fixed ends
    assert f"span={round(before / 2)}" in page.url and "until=" not in page.url
    shot(page, "05-alert-zoomed")

    # open the diff of the replica cut
    row.locator(".s-title a").click()
    page.wait_for_selector("#diff-h")
    diff = page.locator("table.diff").inner_text()
    assert "spec.replicas" in diff and "50" in diff and "5" in diff
    shot(page, "06-change")
    page.go_back()
    page.wait_for_selector("#suspects-h")

    # "caused it" is stored
    page.locator(f".suspect[data-change='{deploy.pk}'] button[value=caused]").click()
    page.wait_for_selector(f".suspect.verdict-caused[data-change='{deploy.pk}']")
    assert Feedback.objects.get(alert=alert, change_id=deploy.pk).verdict == "caused"
    page.wait_for_selector("[data-canvas] svg a.marker")

    # a change posted to the webhook receiver appears on the open page without a reload
    conn = Connection.objects.get(name="deploy scripts")
    page.evaluate("window.__notReloaded = true")
    page.wait_for_selector(
        "#live-status.on", state="attached"
    )  # a selector: a string predicate is eval, which the CSP refuses
    body = {
        "type": "change",
        "service": {"name": "rest-api", "namespace": "shop", "cluster": "prod-us"},
        "kind": "deploy",
        "summary": "Deploy rest-api 2.14.1 (replicas 5 → 50)",
        "timestamp": _now_iso(),
        "external_id": "e2e-hotfix",
    }
    answer = requests.post(
        webhook_url,
        data=json.dumps(body),
        timeout=10,
        headers={"Content-Type": "application/json", "X-Changetrack-Token": token},
    )
    assert answer.status_code == 202
    page.wait_for_selector("[data-canvas] a.marker[aria-label*='Deploy rest-api 2.14.1']", timeout=30000)
    page.click("summary:has-text('List of these events')")
    page.wait_for_selector(".tl-list >> text=Deploy rest-api 2.14.1 (replicas 5 → 50)")
    page.wait_for_selector("#live-toasts >> text=Deploy rest-api 2.14.1")
    assert page.evaluate("window.__notReloaded") is True
    new = Change.objects.get(source="generic", external_id="e2e-hotfix")
    assert page.locator(f"[data-canvas] a.marker[href='/changes/{new.pk}/']").count() == 1
    shot(page, "07-alert-live")

    # the other pages render for the same user
    page.goto(base + f"/services/{deploy.service_id}/")
    page.wait_for_selector("[data-canvas] svg a.marker")
    with page.expect_response(re.compile(r"timeline\.json")):
        page.click("button[data-preset='6h']")
    assert abs(_span(canvas) - 6 * 3600) < 2
    shot(page, "08-service")

    # every kind's marker is drawn with a real shape (flags are triangles, scale edits diamonds)
    checkout = Service.objects.get(cluster__name="prod-us", namespace="shop", name="checkout")
    page.goto(base + f"/services/{checkout.pk}/")
    page.wait_for_selector("[data-canvas] svg a.marker")
    drawn = page.eval_on_selector_all(
        "[data-canvas] svg a.marker .m",
        "els => els.map(e => [e.closest('a').dataset.kind, e.getBBox().width, e.getBBox().height])",
    )
    assert {"deploy", "feature_flag", "scale"} <= {kind for kind, _, _ in drawn}
    assert all(w >= 8 and h >= 8 for _, w, h in drawn), drawn
    # what changed nearby, ranked as an alert now would be, arrives after the page
    page.wait_for_selector("#likely-h")
    assert page.locator("#likely li").count() >= 1
    page.goto(base + "/integrations/")
    shot(page, "09-integrations")
    page.goto(base + f"/integrations/{conn.pk}/")
    assert token not in page.content() and "processed" in page.content()
    shot(page, "10-connection")
    page.goto(base + "/delivery/?team=platform")
    shot(page, "11-delivery")

    # the feed refreshes itself (htmx) when the live poll reports a new change
    page.goto(base + "/changes/?minutes=60")
    page.wait_for_selector(
        "#live-status.on", state="attached"
    )  # a selector: a string predicate is eval, which the CSP refuses
    store_records(
        [
            ChangeRecord(
                source="api",
                external_id="e2e-flag",
                kind="feature_flag",
                occurred_at=timezone.now(),
                summary="Turned on flag checkout-express in production",
                actor="pm@example.com",
                service=ServiceHint(name="checkout", namespace="shop", cluster="prod-us"),
            )
        ]
    )
    page.wait_for_selector("#feed-rows >> text=Turned on flag checkout-express in production", timeout=20000)
    shot(page, "12-what-changed-live")


def _span(canvas) -> float:
    from datetime import datetime

    since = datetime.fromisoformat(canvas.get_attribute("data-since").replace("Z", "+00:00"))
    until = datetime.fromisoformat(canvas.get_attribute("data-until").replace("Z", "+00:00"))
    return (until - since).total_seconds()


def _now_iso() -> str:
    from django.utils import timezone

    return timezone.now().isoformat()


@pytest.mark.django_db(transaction=True)
def test_show_more_pages_the_list_under_the_chart_in_place_and_a_zoom_starts_it_again(
    page, live_server, django_user_model
):
    from datetime import timedelta

    from django.utils import timezone

    from changetrack.ingest.store import store_records
    from changetrack.models import Service
    from changetrack.web.events import PAGE_ROWS
    from integrations.base import ChangeRecord, ServiceHint

    roles.set_role(django_user_model.objects.create_user("oncall", password=PASSWORD), roles.VIEWER)
    now = timezone.now()
    hint = ServiceHint(name="ledger", namespace="money", cluster="prod", create=True)
    total = PAGE_ROWS + 12
    store_records(
        [
            ChangeRecord(
                source="api",
                external_id=f"c{i}",
                kind="config",
                occurred_at=now - timedelta(minutes=i),
                summary=f"change number {i}",
                service=hint,
            )
            for i in range(total)
        ]
    )
    service = Service.objects.get(name="ledger")
    login(page, live_server.url)
    page.goto(f"{live_server.url}/services/{service.pk}/?range=24h&depth=0")
    page.wait_for_selector("[data-canvas] svg :is(a.marker, .cluster)")  # an hour of changes on a day: count badges
    assert page.locator(".tl-list tr.ev-change").count() == PAGE_ROWS
    page.click(".tl-list a[data-more]")
    page.wait_for_selector(f".tl-list >> text=change number {total - 1}")
    assert page.locator(".tl-list tr.ev-change").count() == total
    assert page.locator(".tl-list a[data-more]").count() == 0
    assert page.locator(".tl-list time").last.get_attribute("title").endswith("UTC")  # localised after the swap
    shot(page, "13-service-show-more")
    with page.expect_response(re.compile(r"/events/\?")):
        page.click("button[data-preset='1h']")
    page.wait_for_selector(".tl-list a[data-more]")  # the new window's first page, with its own "Show more"
    assert page.locator(".tl-list tr.ev-change").count() == PAGE_ROWS
    assert page.locator(".tl-list >> text=change number 0").count() == 1


@pytest.mark.django_db(transaction=True)
def test_alerts_list_leads_to_the_incident_and_an_unmapped_alert_is_mapped_from_its_page(
    page, live_server, django_user_model
):
    from django.utils import timezone

    from changetrack.ingest.store import store_records
    from changetrack.models import Alert
    from integrations.base import AlertRecord, ServiceHint

    django_user_model.objects.create_superuser("oncall", "oncall@example.com", PASSWORD)
    call_command("load_demo", verbosity=0)
    base = live_server.url
    login(page, base)

    # the open demo alert is listed first with its top suspect: rest-api's replica cut
    page.click("nav >> text=Alerts")
    page.wait_for_selector("h1:has-text('Alerts')")
    first = page.locator("tbody tr").first
    assert "data-processor error rate above 5%" in first.inner_text()
    assert "Deploy rest-api 2.14.0 (replicas 50 → 5)" in first.inner_text()
    shot(page, "14-alerts")

    # the earlier, resolved incident: two alerts grouped under the flag that caused them
    page.goto(base + "/alerts/?status=resolved&hours=24")
    checkout = Alert.objects.get(source="alertmanager", external_id="demo-am-checkout-5xx")
    assert checkout.incident_id is not None
    page.locator(f"a[href='/incidents/{checkout.incident_id}/']").first.click()
    page.wait_for_selector(f".crumbs:has-text('incident #{checkout.incident_id}')")
    text = page.locator("main").inner_text()
    assert "resolved" in text and "checkout" in text and "frontend" in text
    shot(page, "15-incident")

    # an alert from a monitor no rule maps: shown as unmapped, mapped to a service from the unmapped page
    store_records(
        [
            AlertRecord(
                source="datadog",
                external_id="e2e-unmapped",
                title="payments-gw p99 latency above 2s",
                status="triggered",
                occurred_at=timezone.now(),
                started_at=timezone.now(),
                service=ServiceHint(name="payments-gw", env="prod"),
            )
        ]
    )
    lost = Alert.objects.get(source="datadog", external_id="e2e-unmapped")
    assert lost.service_id is None
    page.goto(base + f"/alerts/{lost.pk}/")
    page.click("a:has-text('unmapped service')")
    page.wait_for_selector("h1:has-text('Unmapped records')")
    row = page.locator("tr", has_text="name=payments-gw")
    row.locator("input[name=service]").fill("prod-us/shop/rest-api")
    shot(page, "16-unmapped")
    row.locator("button:has-text('Map')").click()
    page.wait_for_load_state()
    lost.refresh_from_db()
    assert lost.service is not None and lost.service.name == "rest-api"
    page.goto(base + f"/alerts/{lost.pk}/")
    assert "unmapped service" not in page.locator("main").inner_text()


@pytest.mark.django_db(transaction=True)
def test_the_api_docs_render_from_the_vendored_swagger_ui_under_the_csp(page, live_server, django_user_model):
    roles.set_role(django_user_model.objects.create_user("oncall", password=PASSWORD), roles.VIEWER)
    login(page, live_server.url)
    outside: list[str] = []
    page.on("request", lambda r: outside.append(r.url) if not r.url.startswith(live_server.url) else None)
    page.goto(f"{live_server.url}/api/docs")
    page.wait_for_selector(".opblock-summary-path")
    paths = {p.replace("\u200b", "") for p in page.locator(".opblock-summary-path").all_inner_texts()}
    assert {"/api/v1/changes", "/api/v1/alerts/{id}/suspects", "/api/v1/services/{id}/timeline"} <= paths
    assert not [u for u in outside if not u.startswith("data:")]
    shot(page, "20-api-docs")
