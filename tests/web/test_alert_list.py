"""The alerts list (open first, top suspect, incident) and the incident page."""

from __future__ import annotations

import pytest
from django.test import Client

from changetrack.correlation import engine
from changetrack.models import Alert
from tests.correlation.helpers import NOW, alert, minutes, replica_cut_under_two_callers, resolve

pytestmark = pytest.mark.django_db


def _ranked(*alerts: Alert) -> list[Alert]:
    for a in alerts:
        engine.rank_and_store(a.pk)
    return [Alert.objects.get(pk=a.pk) for a in alerts]


@pytest.fixture
def incident_world():
    """Two services that call rest-api alert minutes after its replica cut: one incident. A third alert on
    another service was resolved an hour earlier."""
    cut = replica_cut_under_two_callers()
    first, second = _ranked(alert("checkout", NOW), alert("reports", NOW + minutes(4), title="Reports timing out"))
    old = alert("billing", NOW - minutes(90), title="Billing queue backlog", source="alertmanager")
    resolve(old, NOW - minutes(60))
    return cut, first, second, old


def test_the_alerts_list_needs_a_login():
    response = Client().get("/alerts/")
    assert response.status_code == 302 and "/login/" in response["Location"]


def test_open_alerts_are_listed_with_their_top_suspect_and_incident(web, incident_world):
    cut, first, second, old = incident_world
    response = web.get("/alerts/")
    assert response.status_code == 200
    rows = response.context["rows"]
    assert [r.alert.pk for r in rows] == [second.pk, first.pk]  # newest first, the resolved one not listed
    assert all(r.top is not None and r.top.change.pk == cut.pk for r in rows)
    assert first.incident_id is not None and first.incident_id == second.incident_id
    text = response.content.decode()
    assert "Scaled rest-api 50 → 5" in text
    assert f'href="/incidents/{first.incident_id}/"' in text
    assert "Billing queue backlog" not in text


def test_the_status_filter_shows_resolved_alerts_in_the_window_and_all(web, incident_world):
    _, first, second, old = incident_world
    resolved = web.get("/alerts/?status=resolved&hours=24").context["rows"]
    assert [r.alert.pk for r in resolved] == [old.pk]
    assert [r.alert.pk for r in web.get("/alerts/?status=resolved&hours=1").context["rows"]] == []
    every = web.get("/alerts/?status=all&hours=24").context["rows"]
    assert {r.alert.pk for r in every} == {first.pk, second.pk, old.pk}


def test_source_team_and_search_filters_narrow_the_list(web, incident_world):
    _, first, second, old = incident_world
    assert [r.alert.pk for r in web.get("/alerts/?status=all&source=alertmanager").context["rows"]] == [old.pk]
    assert [r.alert.pk for r in web.get("/alerts/?q=timing").context["rows"]] == [second.pk]
    assert [r.alert.pk for r in web.get("/alerts/?q=checkout").context["rows"]] == [first.pk]
    empty = web.get("/alerts/?q=nothing-matches-this")
    assert empty.context["rows"] == [] and "No open alerts matching these filters" in empty.content.decode()


def test_nonsense_parameters_fall_back_to_defaults_instead_of_failing(web, incident_world):
    response = web.get("/alerts/?status=bogus&hours=abc")
    assert response.status_code == 200
    assert response.context["params"]["status"] == "open" and response.context["hours"] == 24
    assert web.get("/alerts/?hours=-5").context["hours"] == 1


def test_the_list_costs_the_same_number_of_queries_for_two_alerts_or_twenty(
    web, incident_world, django_assert_max_num_queries
):
    with django_assert_max_num_queries(12):
        web.get("/alerts/")
    for i in range(18):
        alert("checkout", NOW - minutes(i + 1), title=f"Extra alert {i}")
    with django_assert_max_num_queries(12):
        rows = web.get("/alerts/").context["rows"]
    assert len(rows) == 20


def test_the_live_refresh_gets_only_the_rows(web, incident_world):
    response = web.get("/alerts/", HTTP_HX_REQUEST="true")
    text = response.content.decode()
    assert "<table" in text and "<html" not in text


def test_the_incident_page_lists_its_alerts_and_the_shared_top_suspect(web, incident_world):
    cut, first, second, _ = incident_world
    response = web.get(f"/incidents/{first.incident_id}/")
    assert response.status_code == 200
    assert [r.alert.pk for r in response.context["rows"]] == [first.pk, second.pk]
    assert response.context["top"].pk == cut.pk
    assert response.context["services"] == ["checkout", "reports"]
    text = response.content.decode()
    assert "2 alerts after: Scaled rest-api 50 → 5" in text and ">open<" in text


def test_an_incident_whose_alerts_all_resolved_shows_resolved(web, incident_world):
    _, first, second, _ = incident_world
    resolve(first, NOW + minutes(20))
    resolve(second, NOW + minutes(30))  # the alert lifecycle resolves the incident, nothing else is called
    text = web.get(f"/incidents/{first.incident_id}/").content.decode()
    assert ">resolved<" in text


def test_an_unknown_incident_is_a_404(web):
    assert web.get("/incidents/999999/").status_code == 404


def test_the_main_navigation_links_the_alerts_list(web, incident_world):
    text = web.get("/").content.decode()
    assert 'href="/alerts/"' in text


def test_the_alert_page_leads_back_to_the_alerts_list_and_its_incident(web, incident_world):
    _, first, _, _ = incident_world
    text = web.get(f"/alerts/{first.pk}/").content.decode()
    assert 'href="/alerts/">Alerts</a>' in text
    assert f'href="/incidents/{first.incident_id}/"' in text


def test_an_unmapped_alert_links_to_the_page_that_maps_it(web):
    from changetrack.ingest.store import store_records
    from integrations.base import AlertRecord, ServiceHint

    rec = AlertRecord(
        source="test",
        external_id="ghost-1",
        title="Nobody knows this one",
        status="triggered",
        occurred_at=NOW,
        started_at=NOW,
        service=ServiceHint(name="ghost", namespace="nowhere"),
    )
    lost = Alert.objects.get(pk=store_records([rec]).alerts[0][0])
    assert lost.service_id is None
    text = web.get(f"/alerts/{lost.pk}/").content.decode()
    assert 'href="/unmapped/"' in text and "unmapped service" in text
