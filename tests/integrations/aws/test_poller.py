"""CloudTrail ``LookupEvents`` polled with the unmodified boto3 against a local server speaking CloudTrail's JSON
protocol: pages, the event time + id cursor, throttling, the 90-day history, and dedupe with pushed events."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from changetrack.collect import polling
from changetrack.models import Change, PollState, Service
from changetrack.models.deliveries import SecretStore
from integrations.aws import AwsIntegration, lookup
from integrations.base import RateLimited
from tests.integrations.aws.conftest import SECRET_KEY, cloudtrail_record, poll_config
from tests.integrations.aws.fake_aws import ASSUMED_KEY_ID, ASSUMED_TOKEN
from tests.integrations.helpers import drain, fixture_body, fixture_json, post

pytestmark = pytest.mark.django_db
NOW = datetime(2026, 11, 18, 12, 0, tzinfo=UTC)


@pytest.fixture
def conn(connection_factory, fake):
    return connection_factory(
        "aws", clear={"secret_access_key": SECRET_KEY}, hashed={"api_key": "eb-key"}, config=poll_config(fake)
    )


def run(conn, now=NOW):
    return polling.poll_connection(conn, now=now, session=polling.retrying_session(backoff=0, timeout=5))


def cursor(conn) -> dict:
    return PollState.objects.get(connection=conn).state["cloudtrail"]["eu-west-1"]


def add(fake, count: int, newest: datetime, name: str = "revoke_security_group_ingress") -> list[str]:
    records = [cloudtrail_record(name, newest - timedelta(seconds=30 * n)) for n in range(count)]
    fake.records += records
    return [r["eventID"] for r in records]


def test_a_poll_pages_through_writes_with_next_token_and_stores_each_event_once(conn, fake):
    ids = add(fake, 120, NOW - timedelta(minutes=1))
    fake.records.append(cloudtrail_record("describe_security_groups_read_only_ignored", NOW - timedelta(minutes=2)))
    summary = run(conn)
    assert summary.errors == [] and summary.steps == 3
    assert sorted(Change.objects.filter(source="aws").values_list("external_id", flat=True)) == sorted(ids)
    assert [r.get("NextToken") for r in fake.lookups] == [None, "page-50-g0", "page-100-g0"]
    first = fake.lookups[0]
    assert first["LookupAttributes"] == [{"AttributeKey": "ReadOnly", "AttributeValue": "false"}]
    assert first["MaxResults"] == 50 and first["EndTime"] == NOW.timestamp()
    assert first["StartTime"] == (NOW - lookup.FIRST_POLL_LOOKBACK - lookup.OVERLAP).timestamp()
    assert "Credential=AKIAIOSFODNN7EXAMPLE/" in first["_auth"]  # boto3 signed with the connection's key
    assert cursor(conn)["after"] == (NOW - timedelta(minutes=1)).isoformat()


def test_requests_for_one_account_and_region_are_at_least_half_a_second_apart(conn, fake):
    add(fake, 150, NOW - timedelta(minutes=1))
    run(conn)
    times = [r["_at"] for r in fake.lookups]
    assert len(times) == 3
    assert min(b - a for a, b in zip(times, times[1:], strict=False)) >= 0.45


def test_a_throttle_rate_limits_the_run_and_the_next_run_resumes_the_walk_at_its_token(conn, fake):
    ids = add(fake, 120, NOW - timedelta(minutes=1))
    fake.throttle_at = {2}
    summary = run(conn)
    assert summary.resume_after is not None and "ThrottlingException" in summary.error
    assert Change.objects.count() == 50
    assert cursor(conn)["walk"]["token"] == "page-50-g0" and "after" not in cursor(conn)
    PollState.objects.filter(connection=conn).update(resume_after=None)
    assert run(conn, NOW + timedelta(minutes=5)).errors == []
    assert fake.lookups[2]["NextToken"] == "page-50-g0" and fake.lookups[2]["EndTime"] == NOW.timestamp()
    assert Change.objects.count() == 120 and set(Change.objects.values_list("external_id", flat=True)) == set(ids)


def test_throttling_is_rate_limited_by_the_pure_poll(fake):
    fake.throttle_at = {1}
    secrets = SecretStore({"secret_access_key": SECRET_KEY}, {})
    with pytest.raises(RateLimited) as raised:
        list(AwsIntegration().poll(poll_config(fake), secrets, {}, NOW, polling.retrying_session()))
    assert raised.value.resume_after > NOW and "throttled" in raised.value.reason


def test_the_next_walk_overlaps_the_cursor_reads_late_events_and_skips_the_ones_it_has(conn, fake):
    add(fake, 3, NOW - timedelta(minutes=1))
    run(conn)
    late = cloudtrail_record(at=NOW - timedelta(minutes=4))  # delivered to CloudTrail after the first poll
    new = cloudtrail_record(at=NOW + timedelta(minutes=4))
    fake.records += [late, new]
    summary = run(conn, NOW + timedelta(minutes=5))
    assert summary.records == 2 and Change.objects.count() == 5
    assert fake.lookups[-1]["StartTime"] == (NOW - timedelta(minutes=1) - lookup.OVERLAP).timestamp()
    assert cursor(conn)["after"] == (NOW + timedelta(minutes=4)).isoformat()


def test_a_cursor_older_than_the_90_day_history_starts_at_the_history_and_says_so(conn, fake):
    PollState.objects.create(
        connection=conn, state={"cloudtrail": {"eu-west-1": {"after": (NOW - timedelta(days=120)).isoformat()}}}
    )
    add(fake, 2, NOW - timedelta(minutes=1))
    summary = run(conn)
    assert fake.lookups[0]["StartTime"] >= (NOW - timedelta(days=90)).timestamp()
    assert "90-day history" in summary.error and Change.objects.count() == 2


def test_an_expired_saved_next_token_walks_the_window_again_once(conn, fake):
    add(fake, 60, NOW - timedelta(minutes=1))
    fake.throttle_at = {2}
    run(conn)
    fake.generation, fake.throttle_at, before = 1, set(), len(fake.lookups)
    PollState.objects.filter(connection=conn).update(resume_after=None)
    summary = run(conn, NOW + timedelta(minutes=5))
    assert summary.errors == [], summary.errors
    assert [r.get("NextToken") for r in fake.lookups[before:]] == ["page-50-g0", None, "page-50-g1"]
    assert Change.objects.count() == 60


def test_failed_and_unlisted_calls_found_by_polling_are_left_out(conn, fake):
    fake.records += [
        cloudtrail_record("revoke_security_group_ingress_failed_ignored", NOW - timedelta(minutes=1)),
        cloudtrail_record("put_bucket_tagging_not_listed_ignored", NOW - timedelta(minutes=2)),
        cloudtrail_record("put_parameter", NOW - timedelta(minutes=3)),
    ]
    summary = run(conn)
    assert summary.records == 1 and list(Change.objects.values_list("details__event_name", flat=True)) == [
        "PutParameter"
    ]


def test_an_event_pushed_by_eventbridge_and_then_polled_is_stored_once(client, conn, fake):
    body = fixture_body("aws", "modify_db_instance")
    assert post(client, conn, body, {"x-api-key": "eb-key"}).status_code == 202
    drain()
    fake.records.append(fixture_json("aws", "modify_db_instance")["detail"])
    summary = run(conn)
    assert summary.records == 1 and summary.created == 0
    change = Change.objects.get()
    assert change.external_id == fixture_json("aws", "modify_db_instance")["detail"]["eventID"]


def test_an_event_on_two_services_pushed_then_polled_is_still_one_change_per_service(
    client, connection_factory, fake, redis_client
):
    Service.objects.create(namespace="shop", name="checkout")
    Service.objects.create(namespace="shop", name="payments")
    rules = "sg-0a1b2c3d4e5f6* => shop/checkout, shop/payments"
    conn = connection_factory(
        "aws",
        clear={"secret_access_key": SECRET_KEY},
        hashed={"api_key": "eb-key"},
        config=poll_config(fake, service_rules=rules),
    )
    post(client, conn, fixture_body("aws", "authorize_security_group_ingress"), {"x-api-key": "eb-key"})
    drain()
    fake.records.append(fixture_json("aws", "authorize_security_group_ingress")["detail"])
    summary = run(conn)
    assert summary.records == 2 and summary.created == 0
    assert Change.objects.count() == 2 and Change.objects.filter(service__isnull=True).count() == 0


def test_with_a_role_set_the_poll_assumes_it_and_signs_with_the_temporary_credentials(connection_factory, fake):
    role = "arn:aws:iam::123456789012:role/changetrack-reader"
    conn = connection_factory("aws", clear={"secret_access_key": SECRET_KEY}, config=poll_config(fake, role_arn=role))
    add(fake, 2, NOW - timedelta(minutes=1))
    assert run(conn).errors == []
    assert [(a["Action"], a["RoleArn"], a["RoleSessionName"]) for a in fake.assumed] == [
        ("AssumeRole", role, "changetrack")
    ]
    assert f"Credential={ASSUMED_KEY_ID}/" in fake.lookups[0]["_auth"]
    assert fake.lookups[0]["_token"] == ASSUMED_TOKEN and Change.objects.count() == 2
