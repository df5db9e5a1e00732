"""CloudTrail records → ``infra`` changes: one test per fixture (its summary), then what is kept (writes, allowed
names, successes), what the change carries for the correlation engine, and the service rules."""

from __future__ import annotations

import copy
import json
from fnmatch import fnmatchcase

import pytest

from changetrack.models import Change
from integrations.aws import AwsIntegration, cloudtrail, mapping
from integrations.base import ParseError, UnsupportedEvent
from tests.integrations.helpers import drain, fixture_json, post

AWS = AwsIntegration()
ROLE_ARN = "arn:aws:sts::123456789012:assumed-role/ci-deployer/deploy-bot"

SUMMARIES = {
    "attach_group_policy": "AttachGroupPolicy oncall (policy ReadOnlyAccess) by dana.kim@example.com",
    "attach_role_policy": "AttachRolePolicy checkout-task-role (policy AmazonS3FullAccess) by deploy-bot",
    "attach_user_policy": "AttachUserPolicy reporting-export (policy ReportsBucketRead) by dana.kim@example.com",
    "authorize_security_group_egress": "sg-0a1b2c3d4e5f60718 egress 5432 to 10.20.0.0/16 authorized by deploy-bot",
    "authorize_security_group_ingress": (
        "sg-0a1b2c3d4e5f60718 ingress 443 from 0.0.0.0/0, ::/0 authorized by deploy-bot"
    ),
    "change_resource_record_sets": "Route 53 Z0123456789ABCDEFGHIJ: UPSERT api.example.com CNAME by deploy-bot",
    "create_listener": "CreateListener loadbalancer/app/prod-alb (port 8443) by deploy-bot",
    "delete_listener": "DeleteListener listener/app/prod-alb by dana.kim@example.com",
    "deregister_targets": "DeregisterTargets targetgroup/checkout-tg by deploy-bot",
    "modify_db_cluster": "ModifyDBCluster billing-aurora by deploy-bot",
    "modify_db_instance": "ModifyDBInstance orders-prod (dBInstanceClass db.r6g.2xlarge) by deploy-bot",
    "modify_db_parameter_group": "ModifyDBParameterGroup orders-pg15 by maya.ortiz",
    "modify_listener": "ModifyListener listener/app/prod-alb by deploy-bot",
    "modify_rule": "ModifyRule listener-rule/app/prod-alb by deploy-bot",
    "modify_security_group_rules": "ModifySecurityGroupRules sg-0a1b2c3d4e5f60718 by dana.kim@example.com",
    "modify_target_group": "ModifyTargetGroup targetgroup/checkout-tg (healthCheckPath /healthz) by deploy-bot",
    "put_group_policy": "PutGroupPolicy oncall (policyName inline-sqs) by dana.kim@example.com",
    "put_parameter": "PutParameter /checkout/prod/payment-timeout-ms by maya.ortiz",
    "put_role_policy": "PutRolePolicy checkout-task-role (policyName orders-events-send) by deploy-bot",
    "put_user_policy": "PutUserPolicy reporting-export (policyName inline-s3) by maya.ortiz",
    "register_targets": "RegisterTargets targetgroup/checkout-tg by autoscaling.amazonaws.com",
    "revoke_security_group_egress": (
        "sg-0a1b2c3d4e5f60718 egress all traffic to 0.0.0.0/0 revoked by dana.kim@example.com"
    ),
    "revoke_security_group_ingress": "sg-0a1b2c3d4e5f60718 ingress 443 from 0.0.0.0/0 revoked by deploy-bot",
    "update_auto_scaling_group": (
        "UpdateAutoScalingGroup eks-prod-workers-20260301 (minSize 3, maxSize 12, desiredCapacity 6) by deploy-bot"
    ),
    "update_function_code": "UpdateFunctionCode checkout-webhook by deploy-bot",
    "update_function_configuration": "UpdateFunctionConfiguration checkout-webhook (memorySize 1024, timeout 30) by deploy-bot",
    "update_service": "UpdateService checkout (taskDefinition checkout:42, desiredCount 6) by deploy-bot",
}


def parse(name_or_record, config=None):
    body = fixture_json("aws", name_or_record) if isinstance(name_or_record, str) else name_or_record
    return AWS.parse(AWS.event_type({}, body), body, config or {})


def record(name: str) -> dict:
    return copy.deepcopy(fixture_json("aws", name))


@pytest.mark.parametrize("name", sorted(SUMMARIES))
def test_each_default_call_becomes_one_infra_change_with_a_readable_summary(name):
    (change,) = parse(name)
    assert change.kind == "infra" and change.source == "aws"
    assert change.summary == SUMMARIES[name]
    assert change.external_id == fixture_json("aws", name)["detail"]["eventID"]


def test_every_default_event_name_pattern_has_a_fixture():
    names = [fixture_json("aws", n)["detail"]["eventName"] for n in SUMMARIES]
    assert [p for p in cloudtrail.DEFAULT_EVENT_NAMES if not any(fnmatchcase(n, p) for n in names)] == []


def test_the_change_carries_what_the_correlation_engine_grades():
    (change,) = parse("revoke_security_group_ingress")
    details = change.details
    assert details["event_name"] == "RevokeSecurityGroupIngress"
    assert details["event_source"] == "ec2.amazonaws.com"
    assert (details["region"], details["account"]) == ("eu-west-1", "123456789012")
    assert details["resources"] == ["sg-0a1b2c3d4e5f60718"]
    assert details["request_parameters"]["ipPermissions"]["items"][0]["fromPort"] == 443
    assert change.actor == ROLE_ARN and details["session_name"] == "deploy-bot"
    assert change.occurred_at.isoformat() == fixture_json("aws", "revoke_security_group_ingress")["time"].replace(
        "Z", "+00:00"
    )


def test_values_are_not_copied_and_credentials_in_parameters_are_scrubbed_when_stored(
    client, connection_factory, redis_client, db
):
    body = record("put_parameter")
    body["detail"]["requestParameters"]["newAuthToken"] = "s3cr3t-token-value"
    (change,) = parse(body)
    assert "value" not in change.details["request_parameters"]
    conn = connection_factory("aws", hashed={"api_key": "k"})
    assert post(client, conn, json.dumps(body), {"x-api-key": "k"}).status_code == 202
    drain()
    stored = Change.objects.get().details["request_parameters"]["newAuthToken"]
    assert stored.startswith("hmac-sha256:") and "s3cr3t" not in json.dumps(Change.objects.get().details)


def test_a_read_only_call_is_not_a_change():
    with pytest.raises(UnsupportedEvent, match="read-only"):
        parse("describe_security_groups_read_only_ignored")


def test_a_failed_call_is_dropped_by_default_and_kept_as_a_warning_when_asked():
    with pytest.raises(UnsupportedEvent, match="failed call"):
        parse("revoke_security_group_ingress_failed_ignored")
    (change,) = parse("revoke_security_group_ingress_failed_ignored", {"keep_failed": "yes"})
    assert change.severity == "warning" and change.summary.endswith("by maya.ortiz (failed)")
    assert change.details["error_code"] == "Client.UnauthorizedOperation"


def test_the_allow_list_is_editable_and_takes_globs():
    with pytest.raises(UnsupportedEvent, match="allow-list"):
        parse("put_bucket_tagging_not_listed_ignored")
    assert len(parse("put_bucket_tagging_not_listed_ignored", {"event_names": "PutBucket*"})) == 1
    with pytest.raises(UnsupportedEvent, match="allow-list"):
        parse("put_parameter", {"event_names": "PutBucket*, ModifyDB*"})


def test_lambdas_versioned_event_names_are_graded_by_the_call_they_name():
    (change,) = parse("update_function_configuration")
    assert change.details["event_name"] == "UpdateFunctionConfiguration"
    assert change.details["cloudtrail_event_name"] == "UpdateFunctionConfiguration20150331v2"


def test_an_iam_user_acts_under_their_user_name_and_a_service_under_its_own():
    (by_user,) = parse("put_parameter")
    assert by_user.actor == "arn:aws:iam::123456789012:user/maya.ortiz" and by_user.details["session_name"] == ""
    (by_service,) = parse("register_targets")
    assert by_service.actor == "autoscaling.amazonaws.com"


def test_an_unmapped_change_is_keyed_by_its_resource_for_the_unmapped_page():
    (change,) = parse("update_service")
    assert change.service.keys == (("aws_resource", "checkout"),) and not change.service.name
    assert change.details["resources"] == [
        "checkout",
        "prod",
        "arn:aws:ecs:eu-west-1:123456789012:service/prod/checkout",
    ]


def test_service_rules_match_arns_names_and_tags_and_list_each_service_once():
    rules = mapping.parse_rules(
        "arn:aws:rds:*:db:orders-* => shop/orders, billing; orders-prod => billing; tag:team=pay* => payments"
    )
    found = mapping.services_for(rules, ["orders-prod", "arn:aws:rds:eu-west-1:1:db:orders-prod"], {"team": "payx"})
    assert found == ["shop/orders", "billing", "payments"]


@pytest.mark.parametrize("text", ["sg-1 =>", "sg-1", "tag:=x => a", "=> checkout"])
def test_a_service_rule_that_cannot_be_read_is_a_parse_error(text):
    with pytest.raises(ParseError):
        mapping.parse_rules(text)


def test_a_sns_notification_of_another_kind_is_not_a_change():
    for message in ('{"s3Bucket": "trail", "s3ObjectKey": ["AWSLogs/1.json.gz"]}', "plain text"):
        with pytest.raises(UnsupportedEvent):
            AWS.parse("Notification", {"Type": "Notification", "Message": message}, {})
