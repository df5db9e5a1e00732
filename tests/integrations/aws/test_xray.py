"""The X-Ray service graph: edges with their call and error counts, read with the unmodified boto3 from a local
server speaking X-Ray's REST-JSON ``POST /ServiceGraph``, page by page."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from changetrack.collect import polling
from changetrack.models import Dependency, Service
from changetrack.models.deliveries import SecretStore
from integrations.aws import AwsIntegration, xray
from integrations.base import DependencyRecord, PollError, ServiceHint
from tests.integrations.aws.conftest import SECRET_KEY, poll_config

NOW = datetime(2026, 11, 18, 12, 0, tzinfo=UTC)


def node(ref: int, name: str, kind: str, *edges: dict) -> dict:
    return {
        "ReferenceId": ref,
        "Name": name,
        "Names": [name],
        "Root": kind == "client",
        "Type": kind,
        "State": "active",
        "StartTime": (NOW - timedelta(hours=1)).timestamp(),
        "EndTime": NOW.timestamp(),
        "Edges": list(edges),
    }


def edge(ref: int, total: int, errors: int = 0, faults: int = 0, throttles: int = 0) -> dict:
    return {
        "ReferenceId": ref,
        "StartTime": (NOW - timedelta(hours=1)).timestamp(),
        "EndTime": NOW.timestamp(),
        "SummaryStatistics": {
            "OkCount": total - errors - faults,
            "ErrorStatistics": {"ThrottleCount": throttles, "OtherCount": errors - throttles, "TotalCount": errors},
            "FaultStatistics": {"OtherCount": faults, "TotalCount": faults},
            "TotalCount": total,
            "TotalResponseTime": 12.5,
        },
        "ResponseTimeHistogram": [{"Value": 0.05, "Count": total}],
        "Aliases": [],
    }


GRAPH = [
    node(0, "web", "client", edge(1, 9000)),
    node(1, "checkout", "AWS::EKS::Container", edge(2, 4200, errors=12, faults=3), edge(3, 800, errors=5, throttles=5)),
    node(2, "orders", "AWS::EKS::Container", edge(4, 3900, faults=7)),
    node(3, "checkout-events", "AWS::SQS::Queue"),
    node(4, "orders-table", "AWS::DynamoDB::Table"),
]


def test_edges_become_traced_dependencies_with_calls_and_errors():
    records = xray.edges(GRAPH, timedelta(minutes=60))
    assert [(r.service.name, r.depends_on.name, r.calls, r.errors, r.connection_type) for r in records] == [
        ("checkout", "checkout-events", 800, 5, "messaging_system"),
        ("checkout", "orders", 4200, 15, ""),
        ("orders", "orders-table", 3900, 7, "database"),
    ]
    assert all(r.provenance == "traces" for r in records)  # the client node's edge is left out


def test_a_poll_reads_every_page_before_making_edges_across_them(fake):
    fake.graph_pages = [GRAPH[:2], GRAPH[2:]]  # checkout's callees are on the second page
    secrets = SecretStore({"secret_access_key": SECRET_KEY}, {})
    config = poll_config(fake, xray="yes", xray_window_minutes="30", regions="eu-west-1")
    steps = list(xray.poll(config, secrets, {"cloudtrail": {}}, NOW, polling.retrying_session()))
    assert len(steps) == 1 and steps[0].state == {"cloudtrail": {}}
    assert [r.get("NextToken") for r in fake.graph_requests] == [None, "1"]
    assert fake.graph_requests[0]["StartTime"] == (NOW - timedelta(minutes=30)).timestamp()
    assert fake.graph_requests[0]["EndTime"] == NOW.timestamp()
    assert (
        DependencyRecord(
            service=ServiceHint(name="orders"),
            depends_on=ServiceHint(name="orders-table"),
            provenance="traces",
            evidence="3,900 calls (7 failed) in 30m, database, AWS X-Ray",
            calls=3900,
            errors=7,
            connection_type="database",
        )
        in steps[0].records
    )


def test_the_integration_polls_the_graph_after_cloudtrail_when_it_is_on(fake):
    fake.graph_pages = [GRAPH]
    secrets = SecretStore({"secret_access_key": SECRET_KEY}, {})
    steps = list(AwsIntegration().poll(poll_config(fake, xray="on"), secrets, {}, NOW, polling.retrying_session()))
    assert len(fake.lookups) == 1 and len(fake.graph_requests) == 1
    assert "cloudtrail" in steps[-1].state and len(steps[-1].records) == 3
    fake.graph_requests.clear()
    list(AwsIntegration().poll(poll_config(fake), secrets, {}, NOW, polling.retrying_session()))
    assert fake.graph_requests == []


def test_a_window_setting_that_is_not_a_number_is_a_poll_error():
    with pytest.raises(PollError):
        xray.window({"xray_window_minutes": "an hour"})
    assert xray.window({"xray_window_minutes": "9999"}) == timedelta(minutes=xray.MAX_WINDOW_MINUTES)


@pytest.mark.django_db
def test_the_runner_stores_the_graph_as_traced_edges_between_known_services(connection_factory, fake, redis_client):
    checkout = Service.objects.create(namespace="shop", name="checkout")
    orders = Service.objects.create(namespace="shop", name="orders")
    fake.graph_pages = [GRAPH]
    conn = connection_factory("aws", clear={"secret_access_key": SECRET_KEY}, config=poll_config(fake, xray="yes"))
    summary = polling.poll_connection(conn, now=NOW, session=polling.retrying_session(backoff=0, timeout=5))
    assert summary.errors == []
    edge = Dependency.objects.get(service=checkout, depends_on=orders)
    assert (edge.provenance, edge.calls, edge.errors) == ("traces", 4200, 15)
