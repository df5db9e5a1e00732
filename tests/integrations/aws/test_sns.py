"""SNS HTTPS deliveries through the real receiver: signatures (versions 1 and 2) checked against a certificate
fetched over verified HTTPS from the SNS host only, cached; subscriptions confirmed by a real worker."""

from __future__ import annotations

import datetime
import json
import socket

import pytest

from changetrack.ingest import sns as sns_ingest
from changetrack.models import Change, Delivery
from integrations.aws import sns
from tests.integrations.aws.sns_server import (
    CERT_URL,
    HOST,
    TOPIC,
    FakeSns,
    body_of,
    certificate_of,
    headers_of,
    signing_key,
)
from tests.integrations.helpers import drain, fixture_body, fixture_json, post

CONFIG = {"sns_topic_arns": "arn:aws:sns:eu-west-1:123456789012:cloudtrail-*"}


@pytest.fixture
def fake(tmp_path, monkeypatch, settings):
    server = FakeSns(tmp_path)
    monkeypatch.setattr(socket, "getaddrinfo", server.resolver(socket.getaddrinfo))
    settings.AWS_SNS_CA_BUNDLE = str(server.ca)
    sns_ingest.forget_certificates()
    yield server
    sns_ingest.forget_certificates()
    server.close()


@pytest.fixture
def conn(connection_factory):
    return connection_factory("aws", hashed={"api_key": "eb-key"}, config=CONFIG)


def send(client, conn, message):
    return post(client, conn, body_of(message), headers_of(message))


def eventbridge_text(name: str = "revoke_security_group_ingress") -> str:
    return fixture_body("aws", name).decode()


@pytest.mark.django_db
def test_a_version_1_notification_carrying_an_eventbridge_event_becomes_its_change(client, conn, fake, redis_client):
    response = send(client, conn, fake.message("Notification", eventbridge_text()))
    assert response.status_code == 202, response.content
    drain()
    change = Change.objects.get()
    assert change.external_id == fixture_json("aws", "revoke_security_group_ingress")["detail"]["eventID"]
    assert change.summary == "sg-0a1b2c3d4e5f60718 ingress 443 from 0.0.0.0/0 revoked by deploy-bot"


@pytest.mark.django_db
def test_a_version_2_notification_carrying_a_raw_cloudtrail_record_with_a_subject_is_accepted(
    client, conn, fake, redis_client
):
    record = json.dumps(fixture_json("aws", "put_parameter")["detail"])
    response = send(client, conn, fake.message("Notification", record, version="2", subject="CloudTrail"))
    assert response.status_code == 202, response.content
    drain()
    assert Change.objects.get().details["event_name"] == "PutParameter"


@pytest.mark.django_db
def test_a_tampered_message_is_refused_and_nothing_is_stored(client, conn, fake):
    message = fake.message("Notification", eventbridge_text())
    message["Message"] = message["Message"].replace("0.0.0.0/0", "10.0.0.0/8")
    response = send(client, conn, message)
    assert response.status_code == 401 and "does not match" in response.json()["detail"]
    assert not Delivery.objects.exists()


@pytest.mark.django_db
def test_a_message_signed_with_another_key_is_refused(client, conn, fake):
    other, _ = signing_key()
    response = send(client, conn, fake.message("Notification", eventbridge_text(), version="2", key=other))
    assert response.status_code == 401 and not Delivery.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize(
    "url",
    [
        "https://sns.eu-west-1.amazonaws.com.evil.example/SimpleNotificationService-1.pem",
        "https://evil.example/sns.eu-west-1.amazonaws.com/SimpleNotificationService-1.pem",
        f"http://{HOST}/SimpleNotificationService-1.pem",
        f"https://{HOST}:8443/SimpleNotificationService-1.pem",
        f"https://attacker@{HOST}/SimpleNotificationService-1.pem",
    ],
)
def test_a_certificate_url_off_the_sns_hosts_is_refused_before_anything_is_fetched(client, conn, fake, url):
    response = send(client, conn, fake.message("Notification", eventbridge_text(), cert_url=url))
    assert response.status_code == 401 and "SigningCertURL" in response.json()["detail"]
    assert fake.requests == [] and not Delivery.objects.exists()


@pytest.mark.django_db
def test_a_topic_not_listed_on_the_connection_is_refused(client, conn, fake):
    topic = "arn:aws:sns:eu-west-1:999999999999:someone-elses-topic"
    response = send(client, conn, fake.message("Notification", eventbridge_text(), topic=topic))
    assert response.status_code == 401 and "topic" in response.json()["detail"]
    assert fake.requests == []


@pytest.mark.django_db
def test_the_signing_certificate_is_fetched_once_then_cached(client, conn, fake, redis_client):
    for name in ("revoke_security_group_ingress", "put_parameter"):
        assert send(client, conn, fake.message("Notification", eventbridge_text(name))).status_code == 202
    assert fake.requests.count(CERT_URL.removeprefix(f"https://{HOST}")) == 1


@pytest.mark.django_db
def test_a_certificate_served_by_an_untrusted_tls_server_is_refused(client, conn, fake, settings):
    settings.AWS_SNS_CA_BUNDLE = ""  # the default CAs do not trust the test server
    response = send(client, conn, fake.message("Notification", eventbridge_text()))
    assert response.status_code == 401 and "could not be fetched" in response.json()["detail"]


@pytest.mark.django_db
def test_the_same_event_by_eventbridge_and_by_sns_is_one_change(client, conn, fake, redis_client):
    assert post(client, conn, fixture_body("aws", "modify_db_instance"), {"x-api-key": "eb-key"}).status_code == 202
    response = send(client, conn, fake.message("Notification", eventbridge_text("modify_db_instance")))
    assert response.status_code == 200 and response.json()["status"] == "duplicate"
    drain()
    assert Change.objects.count() == 1


def test_a_subscription_confirmation_from_an_allowed_topic_is_confirmed_by_a_worker(
    client, connection_factory, fake, celery_worker
):
    conn = connection_factory("aws", hashed={"api_key": "eb-key"}, config=CONFIG)
    message = fake.message("SubscriptionConfirmation", f"You have chosen to subscribe to the topic {TOPIC}.")
    response = send(client, conn, message)
    assert response.status_code == 202, response.content
    assert fake.confirmed.wait(20)
    assert any(path.startswith("/?Action=ConfirmSubscription&TopicArn=") for path in fake.requests)
    assert Delivery.objects.get().event_type == "SubscriptionConfirmation"


@pytest.mark.django_db
def test_a_signed_subscription_url_off_the_sns_hosts_is_refused(client, conn, fake):
    evil = "https://evil.example/?Action=ConfirmSubscription&Token=1"
    message = fake.message("SubscriptionConfirmation", "You have chosen to subscribe.", subscribe_url=evil)
    response = send(client, conn, message)
    assert response.status_code == 401 and "SubscribeURL" in response.json()["detail"]
    assert not Delivery.objects.exists()


def test_a_notification_without_a_subject_signs_no_subject_line():
    message = {"Type": "Notification", "Message": "m", "MessageId": "i", "Timestamp": "t", "TopicArn": "a"}
    assert sns.string_to_sign(message) == b"Message\nm\nMessageId\ni\nTimestamp\nt\nTopicArn\na\nType\nNotification\n"
    assert b"Subject\ns\n" in sns.string_to_sign({**message, "Subject": "s"})


@pytest.mark.django_db
def test_a_deeply_nested_sns_body_is_refused_not_a_crash(client, conn, fake):
    body = (
        b'{"Type": "Notification", "TopicArn": "' + TOPIC.encode() + b'", "x": ' + b"[" * 100000 + b"]" * 100000 + b"}"
    )
    response = post(client, conn, body, {"x-amz-sns-message-type": "Notification"})
    assert response.status_code == 401 and response["Content-Type"] == "application/problem+json"


@pytest.mark.django_db
def test_a_message_signed_under_an_expired_certificate_is_refused(client, conn, fake):
    fake.certificate = certificate_of(fake.key, datetime.datetime.now(datetime.UTC) - datetime.timedelta(days=1))
    response = send(client, conn, fake.message("Notification", eventbridge_text()))
    assert response.status_code == 401 and "expired" in response.json()["detail"]
