"""Dependency edges read from traces, end to end: a tracing backend (a local Prometheus or Jaeger server) polled
through the one runner, names mapped by the usual resolution, unknown names on the unmapped page, declared
edges left alone, database edges labelled, and edges no longer seen expiring."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from changetrack import roles
from changetrack.collect import polling
from changetrack.ingest import dependencies
from changetrack.ingest.store import store_records
from changetrack.models import ApiToken, Dependency, Service, ServiceAlias, UnmappedEdge
from integrations.base import DependencyRecord, ServiceHint
from integrations.traces import trace_edge
from tests.integrations.jaeger.fake_jaeger import FakeJaeger
from tests.integrations.prometheus_servicegraph.fake_prometheus import FakePrometheus

pytestmark = pytest.mark.django_db


@pytest.fixture
def shop() -> dict[str, Service]:
    return {n: Service.objects.create(name=n, namespace="shop") for n in ("frontend", "checkout-api", "postgres")}


@pytest.fixture
def prometheus(connection_factory) -> Iterator[tuple[FakePrometheus, object]]:
    with FakePrometheus() as fake:
        yield fake, connection_factory("prometheus-servicegraph", name="tempo", config={"url": fake.url})


def run(conn) -> polling.RunSummary:
    return polling.poll_connection(conn, session=polling.retrying_session(backoff=0))


def edges() -> list[tuple[str, str, str, int | None, int | None, str]]:
    return sorted(
        Dependency.objects.values_list(
            "service__name", "depends_on__name", "provenance", "calls", "errors", "connection_type"
        )
    )


def test_an_import_run_twice_stores_the_same_edges_with_the_latest_counts(shop, prometheus):
    fake, conn = prometheus
    fake.add("frontend", "Checkout API", 1500, failed=30)  # a loose spelling of checkout-api
    fake.add("checkout-api", "postgres", 40, kind="database")
    first = run(conn)
    assert first.errors == [] and first.created == 2
    stored = edges()
    assert stored == [
        ("checkout-api", "postgres", "traces", 40, 0, "database"),
        ("frontend", "checkout-api", "traces", 1500, 30, ""),
    ]
    ids = set(Dependency.objects.values_list("id", flat=True))
    fake.series.clear()
    fake.add("frontend", "Checkout API", 1700, failed=2)
    fake.add("checkout-api", "postgres", 40, kind="database")
    again = run(conn)
    assert again.created == 0 and set(Dependency.objects.values_list("id", flat=True)) == ids
    assert edges()[1] == ("frontend", "checkout-api", "traces", 1700, 2, "")


def test_confidence_grows_with_the_call_volume(shop):
    store_records([trace_edge("frontend", "checkout-api", 1), trace_edge("checkout-api", "postgres", 5000)])
    few = Dependency.objects.get(service__name="frontend")
    many = Dependency.objects.get(service__name="checkout-api")
    assert few.confidence == dependencies.MIN_TRACE_CONFIDENCE and many.confidence == 1.0
    assert dependencies.trace_confidence(10) == pytest.approx(0.347, abs=0.001)
    assert dependencies.trace_confidence(100) == pytest.approx(0.668, abs=0.001)


def test_a_declared_edge_is_never_overwritten_by_the_same_edge_from_traces(shop):
    declared = DependencyRecord(
        service=ServiceHint(name="frontend", namespace="shop"),
        depends_on=ServiceHint(name="checkout-api", namespace="shop"),
        provenance="declared",
        evidence="declared via API",
    )
    store_records([declared])
    store_records([trace_edge("frontend", "checkout-api", 3)])
    rows = {p: (e, c) for p, e, c in Dependency.objects.values_list("provenance", "evidence", "confidence")}
    assert rows["declared"] == ("declared via API", 1.0)
    assert rows["traces"] == ("3 calls", dependencies.trace_confidence(3))


def test_names_that_match_no_service_wait_on_the_unmapped_page_and_mapping_one_stores_the_edge(
    shop, prometheus, client, django_user_model
):
    fake, conn = prometheus
    fake.add("frontend", "ledger-svc-prod", 250, kind="messaging_system")
    run(conn)
    assert Dependency.objects.count() == 0
    row = UnmappedEdge.objects.get()
    assert (row.service_unmapped, row.depends_on_unmapped, row.calls) == (False, True, 250)
    lead = django_user_model.objects.create_user("lead")
    roles.set_role(lead, roles.RESPONDER)
    client.force_login(lead)
    page = client.get(reverse("web:unmapped")).content.decode()
    assert "name=ledger-svc-prod" in page and "frontend → ledger-svc-prod" in page
    assert "name=frontend" not in page  # the end that resolved is not offered
    ledger = Service.objects.create(name="ledger", namespace="shop")
    answer = client.post(
        reverse("web:unmapped_map"),
        {"source": "traces", "match": "name=ledger-svc-prod", "scope": "source", "service": "shop/ledger"},
    )
    assert answer.status_code == 302
    assert ServiceAlias.objects.filter(source="traces", key="name", value="ledger-svc-prod", service=ledger).exists()
    assert edges() == [("frontend", "ledger", "traces", 250, 0, "messaging_system")]
    assert not UnmappedEdge.objects.exists()
    run(conn)  # the next import follows the rule
    assert len(edges()) == 1 and not UnmappedEdge.objects.exists()


def test_trace_edges_not_seen_for_the_configured_days_expire_and_other_edges_stay(shop, settings):
    settings.TRACE_EDGE_EXPIRY_DAYS = 3
    store_records([trace_edge("frontend", "checkout-api", 10), trace_edge("nobody-knows", "postgres", 5)])
    store_records(
        [
            DependencyRecord(
                service=ServiceHint(name="frontend", namespace="shop"),
                depends_on=ServiceHint(name="postgres", namespace="shop"),
                provenance="kubernetes",
            )
        ]
    )
    assert dependencies.expire_trace_edges() == 0
    long_ago = timezone.now() - timedelta(days=3, minutes=1)
    Dependency.objects.update(last_seen_at=long_ago)  # every edge so far, the Kubernetes one too
    UnmappedEdge.objects.update(last_seen_at=long_ago)
    store_records([trace_edge("checkout-api", "postgres", 7, connection_type="database")])  # seen just now
    assert dependencies.expire_trace_edges() == 2  # frontend → checkout-api and the unmapped one
    assert edges() == [
        ("checkout-api", "postgres", "traces", 7, None, "database"),
        ("frontend", "postgres", "kubernetes", None, None, ""),
    ]
    assert not UnmappedEdge.objects.exists()


def test_manage_py_poll_runs_a_jaeger_connection_now(shop, connection_factory):
    with FakeJaeger() as fake:
        fake.links = [{"parent": "frontend", "child": "checkout-api", "callCount": 12}]
        conn = connection_factory("jaeger", name="jaeger prod", config={"url": fake.url})
        out = StringIO()
        call_command("poll", "jaeger prod", stdout=out)
    assert "jaeger prod (jaeger): polled" in out.getvalue()
    assert "records: 1 (1 new)" in out.getvalue()
    assert edges() == [("frontend", "checkout-api", "traces", 12, None, "")]
    assert conn.poll_state.last_error == ""


def test_the_service_page_and_the_api_show_where_each_edge_came_from(shop, client, django_user_model, redis_client):
    store_records([trace_edge("checkout-api", "postgres", 4321, errors=21, connection_type="database", window="1h")])
    viewer = django_user_model.objects.create_user("viewer")
    roles.set_role(viewer, roles.VIEWER)
    client.force_login(viewer)
    page = client.get(reverse("web:service", args=[shop["checkout-api"].pk])).content.decode()
    assert "4,321 calls (21 failed) in 1h" in page and ">database</span>" in page and "last seen" in page
    _, token = ApiToken.issue("reader", ["read"])
    body = client.get(f"/api/v1/services/{shop['checkout-api'].pk}", HTTP_AUTHORIZATION=f"Bearer {token}").json()
    edge = body["dependencies"][0]
    assert (edge["provenance"], edge["calls"], edge["errors"], edge["connection_type"]) == (
        "traces",
        4321,
        21,
        "database",
    )


def test_a_tracing_connection_page_shows_its_poll_state_and_no_webhook_url(shop, prometheus, client, django_user_model):
    fake, conn = prometheus
    fake.refuse = "query timed out in expression evaluation"
    run(conn)
    viewer = django_user_model.objects.create_user("viewer")
    roles.set_role(viewer, roles.VIEWER)
    client.force_login(viewer)
    page = client.get(reverse("web:connection", args=[conn.pk])).content.decode()
    assert "query timed out in expression evaluation" in page
    assert "/hooks/" not in page


def test_an_unmapped_edge_leaves_the_list_when_its_name_matches_a_service_at_the_next_import(shop, prometheus):
    fake, conn = prometheus
    fake.add("frontend", "search", 30)
    run(conn)
    assert UnmappedEdge.objects.count() == 1 and not Dependency.objects.exists()
    Service.objects.create(name="search", namespace="shop")
    run(conn)
    assert edges() == [("frontend", "search", "traces", 30, 0, "")]
    assert not UnmappedEdge.objects.exists()


def test_a_tracing_backend_outage_keeps_the_edges_already_read_and_pauses_the_source(shop, prometheus):
    fake, conn = prometheus
    fake.add("frontend", "checkout-api", 100)
    run(conn)
    fake.failures = [503] * 20  # more than the session's retries
    summary = run(conn)
    assert summary.resume_after is not None and "503" in summary.error
    assert edges() == [("frontend", "checkout-api", "traces", 100, 0, "")]
    conn.refresh_from_db()
    assert "503" in conn.poll_state.last_error
