"""What PostgreSQL cannot store is refused at the door (400 problem+json, nothing stored), and a delivery that
slipped in anyway fails alone in the pipeline with a readable error instead of failing the batch."""

from __future__ import annotations

import dataclasses
import json

import pytest
from django.db import OperationalError
from django.http import HttpResponse

from changetrack.ingest import pipeline
from changetrack.ingest.record_limits import UnsafeJSON, check_records
from changetrack.middleware import DatabaseUnavailableMiddleware
from changetrack.models import Change, Delivery, Service
from integrations.base import AlertRecord, ServiceHint, parse_time
from tests.api.conftest import assert_problem
from tests.ingest.test_receiver import change_body
from tests.integrations.helpers import fixture_body

pytestmark = pytest.mark.django_db
TOKEN = "s3cret-token"


def raw(**over) -> bytes:
    """The receiver tests' valid change with ``over`` applied, as a careless sender encodes it (json.dumps keeps
    lone surrogates as ``\\udXXX`` escapes and writes NaN)."""
    return change_body(**over).encode()


#: bodies the generic webhook answered 202 before, and the pipeline then failed on every replay
UNSTORABLE = {
    "lone surrogate in the summary": raw(summary="deploy \ud800"),
    "lone surrogate in a details key": raw(details={"\udfff": 1}),
    "number overflowing to infinity": raw(details={"huge": 1}).replace(b'"huge": 1', b'"huge": 1e400'),
    "10,000-character service name": raw(service={"name": "s" * 10_000}),
    "10,000-character cluster name": raw(service={"name": "api", "cluster": "c" * 10_000}),
    "nesting deeper than the limit": raw(details={"a": json.loads("[" * 300 + "]" * 300)}),
    "NUL in the actor": raw(actor="a\x00b"),
}


@pytest.fixture
def conn(connection_factory, redis_client):
    return connection_factory(hashed={"token": TOKEN})


def post(client, conn, data: bytes):
    return client.post(conn.webhook_path, data, content_type="application/json", HTTP_X_CHANGETRACK_TOKEN=TOKEN)


@pytest.mark.parametrize("case", list(UNSTORABLE))
def test_the_generic_webhook_refuses_what_the_database_cannot_store_with_400_and_stores_nothing(client, conn, case):
    body = assert_problem(post(client, conn, UNSTORABLE[case]), 400)
    assert body["detail"].startswith(("body", "records[0]")), body["detail"]  # says where the bad value is
    assert Delivery.objects.count() == 0
    pipeline.drain()
    assert Change.objects.count() == 0 and not Service.objects.filter(name__startswith="s" * 300).exists()


def test_a_too_long_service_name_is_named_with_the_column_length(client, conn):
    body = assert_problem(post(client, conn, UNSTORABLE["10,000-character service name"]), 400)
    assert body["detail"] == "records[0].service.name: is 10000 characters long; at most 253 can be stored"


def test_valid_bodies_at_the_limits_are_still_202_and_processed(client, conn):
    at_limits = raw(
        service={"name": "s" * 253, "namespace": "n" * 253, "cluster": "c" * 100},
        summary="emoji 🙂 and accents é",
        details={"a": json.loads("[" * 200 + "]" * 200), "ratio": 1e300, "big": 10**300},
    )
    assert post(client, conn, at_limits).status_code == 202
    outcome = pipeline.drain()
    assert (outcome.processed, outcome.failed) == (1, 0)
    change = Change.objects.get(external_id="rel-1")
    assert change.service.name == "s" * 253 and change.service.cluster.name == "c" * 100
    assert float(change.details["ratio"]) == 1e300 and change.details["big"] == 10**300  # jsonb keeps numeric


def test_a_long_service_name_from_a_source_that_does_not_create_services_is_not_refused():
    """Only a service the source may create lands in a column; a name that is merely looked up cannot overflow
    (it matches nothing and the alert is kept unmapped)."""
    record = AlertRecord(
        source="datadog",
        external_id="x",
        title="t",
        status="triggered",
        occurred_at=parse_time("2026-11-21T10:04:00Z"),
        service=ServiceHint(name="s" * 10_000),
    )
    check_records([record])
    with pytest.raises(UnsafeJSON, match="service.name"):
        check_records([dataclasses.replace(record, service=ServiceHint(name="s" * 10_000, create=True))])


def test_an_unstorable_delivery_already_stored_fails_alone_with_a_clear_error_and_the_batch_goes_on(client, conn):
    assert post(client, conn, raw(external_id="good")).status_code == 202
    received_at = Delivery.objects.get().received_at
    for case in ("10,000-character service name", "lone surrogate in the summary", "number overflowing to infinity"):
        # stored as an older receiver (or a replay of an old delivery) would have stored it
        Delivery.objects.create(
            connection=conn,
            integration="generic",
            event_type="change",
            body=UNSTORABLE[case],
            headers={},
            received_at=received_at,
        )
    outcome = pipeline.drain()
    assert (outcome.processed, outcome.failed) == (1, 3)
    assert Change.objects.get().external_id == "good"
    errors = sorted(Delivery.objects.filter(status="failed").values_list("error", flat=True))
    assert errors == [
        "body.summary: contains an unpaired surrogate, which cannot be stored",
        "body: number 1e400 is out of range: the database stores only finite numbers",
        "records[0].service.name: is 10000 characters long; at most 253 can be stored",
    ]


@pytest.mark.parametrize("status", [404, 401, 413])
def test_every_receiver_error_is_the_same_problem_shape_as_the_api(client, conn, status, settings):
    settings.WEBHOOK_MAX_BODY_BYTES = 10_000
    if status == 404:
        response = client.post(
            conn.webhook_path.replace(str(conn.pk), "00000000-0000-0000-0000-000000000000"),
            b"{}",
            content_type="application/json",
        )
    elif status == 401:
        response = client.post(conn.webhook_path, raw(), content_type="application/json")
    else:
        response = post(client, conn, raw(summary="x" * 20_000))
    assert_problem(response, status)


def test_the_database_unavailable_answer_is_the_same_problem_shape_with_retry_after(rf):
    middleware = DatabaseUnavailableMiddleware(lambda request: HttpResponse())
    response = middleware.process_exception(rf.post("/hooks/generic/x/"), OperationalError("server closed"))
    assert response is not None and response.status_code == 503 and response["Retry-After"] == "5"
    assert response["Content-Type"] == "application/problem+json"
    assert json.loads(response.content) == {
        "type": "about:blank",
        "title": "Service Unavailable",
        "status": 503,
        "detail": "the database is unreachable; retry shortly",
        "errors": [],
    }


def test_a_webhook_body_starting_with_a_byte_order_mark_is_accepted_and_recorded(client, conn):
    body = fixture_body("generic", "change_powershell_bom")
    assert body.startswith(b"\xef\xbb\xbf")
    assert post(client, conn, body).status_code == 202
    pipeline.drain()
    assert Change.objects.get(external_id="chg-20241002-0912-pool").summary == "Raise checkout DB pool size to 40"


@pytest.mark.parametrize(
    "hint, refused",
    [
        (ServiceHint(name="c" * 254, namespace="shop", create=True), "records[0].service.name: is 254 characters long"),
        (ServiceHint(name="checkout", namespace="n" * 254, create=True), "records[0].service.namespace: is 254"),
        (ServiceHint(name="c" * 254, namespace="shop", create=False), None),  # only looked up: never stored
        (ServiceHint(name="c" * 253, namespace="shop", create=True), None),
    ],
)
def test_the_pipelines_length_check_refuses_what_the_full_check_refuses_for_a_safe_payload(hint, refused):
    from changetrack.ingest.record_limits import check_lengths
    from tests.records import change

    records = [change("len-1", parse_time("2026-11-21T10:00:00Z"), hint)]
    for check in (check_records, check_lengths):
        if refused is None:
            check(records)
        else:
            with pytest.raises(UnsafeJSON) as caught:
                check(records)
            assert str(caught.value).startswith(refused)
