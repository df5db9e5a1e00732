"""End to end in headless Chromium (Debian's package), the on-call pages round two: suspects ranked on the alert's
timeline and lit with their cards, count badges for markers too close to tell apart, links out to each source,
verdicts undone and their history, times with their zone and a UTC toggle kept per user, the live toast clear of the
verdict buttons, and a phone-sized screen with no sideways scrolling.

Screenshots land in ``artifacts/screenshots/`` (git-ignored)."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.core.management import call_command

from changetrack import roles
from tests.web import test_e2e as _base
from tests.web.test_e2e import PASSWORD, SHOTS, login, shot

pytestmark = _base.pytestmark
browser = _base.browser  # the fixtures: Debian's Chromium, and a desktop page that fails on JS errors and CSP refusals
page = _base.page

PHONE = {"width": 390, "height": 844}


def screen(page, name: str) -> None:
    """What is on the screen now (a full-page shot resizes the window, which closes open menus)."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"))


def _boxes_overlap(a: dict, b: dict) -> bool:
    return not (
        a["x"] + a["width"] <= b["x"]
        or b["x"] + b["width"] <= a["x"]
        or a["y"] + a["height"] <= b["y"]
        or b["y"] + b["height"] <= a["y"]
    )


def _burst(at, service: str, count: int, tag: str) -> None:
    """``count`` changes on one service in the same minute: one count badge on a 24 h chart."""
    from changetrack.ingest.store import store_records
    from integrations.base import ChangeRecord, ServiceHint

    hint = ServiceHint(name=service, namespace="shop", cluster="prod-us")  # the demo's services
    store_records(
        [
            ChangeRecord(
                source="kubernetes",
                external_id=f"{tag}-{i}",
                kind="config",
                occurred_at=at + timedelta(seconds=i),
                summary=f"ConfigMap {service}-config key K{i} changed",
                service=hint,
                diff=({"path": f"data.K{i}", "before": "a", "after": "b"},),
            )
            for i in range(count)
        ]
    )


@pytest.mark.django_db(transaction=True)
def test_the_alert_page_ranks_suspects_on_the_timeline_links_out_undoes_verdicts_and_keeps_the_time_zone_choice(
    page, live_server, django_user_model
):
    from django.utils import timezone

    from changetrack.correlation.engine import current_suspects
    from changetrack.ingest.store import store_records
    from changetrack.models import Alert, Change, UserPreference
    from integrations.base import ChangeRecord, ServiceHint

    oncall = django_user_model.objects.create_user("oncall", password=PASSWORD)
    roles.set_role(oncall, roles.RESPONDER)
    call_command("load_demo", verbosity=0)
    alert = Alert.objects.get(source="datadog", external_id="demo-dd-cycle-1")
    deploy = Change.objects.get(external_id="demo-rest-deploy")
    # after the alert (and its clock skew), so not suspects: four changes in one minute, drawn as one badge
    _burst(alert.started_at + timedelta(minutes=7), "rest-api", 4, "burst")
    suspects = current_suspects(alert, 10)
    base = live_server.url
    login(page, base)

    page.goto(f"{base}/alerts/{alert.pk}/")
    page.wait_for_selector("[data-canvas] svg a.marker.ranked")

    # 3. the real source, and 2. links out from what it sent
    meta = page.locator(".title-row .meta").inner_text()
    assert "from Datadog" in meta and "demo" not in meta.lower()
    assert page.locator("a[data-link-kind=monitor]").get_attribute("href") == (
        "https://app.datadoghq.com/monitors/48213377"
    )
    card = page.locator(f".suspect[data-change='{deploy.pk}']")
    assert (
        card.locator("a[data-link-kind=commit]")
        .get_attribute("href")
        .startswith("https://github.com/acme/rest-api/commit/91dc324")
    )

    # 1. every top suspect is on the chart with its rank; #1 is the replica cut
    ranked = page.eval_on_selector_all(
        "[data-canvas] a.marker.ranked", "els => els.map(e => [+e.dataset.changeId, +e.dataset.rank])"
    )
    assert dict(ranked)[deploy.pk] == 1
    assert {s.change_id for s in suspects[:5]} <= {cid for cid, _ in ranked}
    assert page.locator(f"[data-canvas] a.marker[data-change-id='{deploy.pk}'] .rank-badge text").text_content() == "1"
    card.hover()
    page.wait_for_selector(f"[data-canvas] a.marker.hl[data-change-id='{deploy.pk}']")
    second = suspects[1].change_id
    page.locator(f"[data-canvas] a.marker[data-change-id='{second}']").hover()
    page.wait_for_selector(f"li.suspect.hl[data-change='{second}']")
    lit = page.eval_on_selector_all("li.suspect.hl", "els => els.map(e => +e.dataset.change)")
    assert lit == [second], (lit, second, deploy.pk)

    # 7. the window ends shortly after the alert; hops read as hops; the legend names the lines
    canvas = page.locator("[data-canvas]")
    since, until = (timezone.datetime.fromisoformat(canvas.get_attribute(a)) for a in ("data-since", "data-until"))
    assert since < alert.started_at < until <= alert.started_at + (until - since) / 8 + timedelta(minutes=1)
    hops = page.eval_on_selector_all("[data-canvas] .lane-hops", "els => els.map(e => e.textContent)")
    assert "1 hop" in hops and all(re.fullmatch(r"\d hops?", h) for h in hops), hops
    legend = page.locator(".legend").inner_text()
    assert "alert start" in legend and "now" in legend
    shot(page, "30-alert-suspects-on-timeline")

    # markers in the same minute are one count badge; it opens into their list, Escape closes it
    cluster = page.locator("[data-canvas] .cluster[data-count='4']")
    cluster.click()
    menu = page.locator(".tl-cluster-menu")
    menu.wait_for(state="visible")
    assert menu.locator("li").count() == 4 and "ConfigMap rest-api-config key K0 changed" in menu.inner_text()
    screen(page, "31-alert-cluster-open")
    page.keyboard.press("Escape")
    menu.wait_for(state="hidden")
    page.click("summary:has-text('Kinds')")
    assert page.locator("details.filter-menu[open]").count() == 1
    page.keyboard.press("Escape")
    assert page.locator("details.filter-menu[open]").count() == 0

    # 6. times name their zone, one format without seconds; the UTC choice is kept for this person
    first = page.locator(".lifecycle time").first
    local = first.inner_text()
    assert "UTC" not in local and re.search(r"GMT\+1|CET", local) and not re.search(r"\d\d:\d\d:\d\d", local), local
    page.click("[data-times-toggle]")
    page.wait_for_selector("body[data-times=utc]", state="attached")
    assert first.inner_text().endswith("UTC")
    assert UserPreference.objects.get(user=oncall).times == "utc"
    page.reload()
    page.wait_for_selector("[data-canvas] svg a.marker.ranked")
    assert page.locator(".lifecycle time").first.inner_text().endswith("UTC")
    assert page.locator("[data-canvas] .tick-zone").text_content() == "UTC"
    page.click("[data-times-toggle]")
    page.wait_for_selector("body[data-times=local]", state="attached")

    # 4. a verdict says who and when, and can be undone
    card.locator("button[value=caused]").click()
    page.wait_for_selector(f".suspect.verdict-caused[data-change='{deploy.pk}']")
    assert "marked caused by oncall" in page.locator(f".suspect[data-change='{deploy.pk}'] .marked").inner_text()
    shot(page, "32-alert-verdict-marked")
    page.locator(f".suspect[data-change='{deploy.pk}'] button[value=undo]").click()
    page.wait_for_selector(f".suspect[data-change='{deploy.pk}']:not(.verdict-caused)")
    assert page.locator(f".suspect[data-change='{deploy.pk}'] .marked").count() == 0

    # the live toast never covers a verdict button
    page.locator("#suspects").scroll_into_view_if_needed()
    page.wait_for_selector("#live-status.on", state="attached")
    store_records(
        [
            ChangeRecord(
                source="api",
                external_id="e2e-toast",
                kind="config",
                occurred_at=timezone.now(),
                summary="ConfigMap rest-api-config changed (toast)",
                service=ServiceHint(name="rest-api", namespace="shop", cluster="prod-us"),
            )
        ]
    )
    toast = page.locator("#live-toasts .toast").first
    toast.wait_for(state="visible", timeout=20000)
    toast_box = page.locator("#live-toasts").bounding_box()
    buttons = page.locator(".s-actions button")
    for i in range(buttons.count()):
        box = buttons.nth(i).bounding_box()
        assert box is None or not _boxes_overlap(box, toast_box), (i, box, toast_box)
    shot(page, "33-alert-toast-clear-of-verdicts")

    # the change page lists the verdicts, the undo included, newest first
    page.goto(f"{base}/changes/{deploy.pk}/")
    history = page.locator(".verdict-history li")
    assert history.count() == 2 and history.first.get_attribute("data-action") == "undo"
    assert "by oncall" in history.first.inner_text()
    shot(page, "34-change-verdict-history")

    # "reverted by" between the flag turned on and off
    flag_on = Change.objects.get(external_id="demo-flag-checkout-new-payment-flow-on")
    page.goto(f"{base}/changes/{flag_on.pk}/")
    page.click("a[data-rel=reverted-by]")
    page.wait_for_selector("a[data-rel=reverts]")
    assert "turned off" in page.locator("h1").inner_text()
    shot(page, "35-change-reverts")

    # 8. the demo's connections; the service page says why its score is lower than the alert's
    page.goto(f"{base}/integrations/")
    assert "No connections yet" not in page.content()
    assert page.locator("table.grid tbody tr").count() >= 5
    shot(page, "36-integrations-demo-connections")
    page.goto(f"{base}/services/{alert.service_id}/")
    page.wait_for_selector("[data-score-note]")
    assert "as of its start" in page.locator("[data-score-note]").inner_text()


@pytest.mark.django_db(transaction=True)
def test_on_a_phone_the_alerts_the_alert_and_the_service_pages_fit_without_sideways_scrolling(
    browser, live_server, django_user_model
):
    from changetrack.models import Alert

    roles.set_role(django_user_model.objects.create_user("oncall", password=PASSWORD), roles.RESPONDER)
    call_command("load_demo", verbosity=0)
    alert = Alert.objects.get(source="datadog", external_id="demo-dd-cycle-1")
    context = browser.new_context(viewport=PHONE, timezone_id="Europe/Paris", is_mobile=True, has_touch=True)
    phone = context.new_page()
    phone.set_default_timeout(15000)
    errors: list[str] = []
    phone.on("pageerror", lambda exc: errors.append(str(exc)))
    base = live_server.url
    login(phone, base)
    pages = [
        ("/alerts/", "table.alerts-table", "37-phone-alerts"),
        (f"/alerts/{alert.pk}/", "[data-canvas] svg a.marker", "38-phone-alert"),
        (f"/services/{alert.service_id}/", "[data-canvas] svg a.marker", "39-phone-service"),
    ]
    for path, ready, name in pages:
        phone.goto(base + path)
        phone.wait_for_selector(ready)
        phone.wait_for_load_state("networkidle")
        width = phone.evaluate("Math.max(document.documentElement.scrollWidth, document.body.scrollWidth)")
        assert width <= PHONE["width"], f"{path} is {width} px wide on a {PHONE['width']} px screen"
        # every link of the navigation is on the screen, none cut off
        for box in phone.locator("header.top nav a").evaluate_all(
            "els => els.map(e => { const r = e.getBoundingClientRect(); return [e.textContent, r.left, r.right]; })"
        ):
            assert box[1] >= 0 and box[2] <= PHONE["width"], box
        shot(phone, name)
        screen(phone, f"{name}-screen")
        if path.startswith("/alerts/") and path != "/alerts/":
            assert phone.locator("[data-canvas] a.marker.ranked .rank-badge").count() >= 3
    context.close()
    assert errors == []
