"""CloudTrail management events → ``infra`` changes, whichever way they arrive (EventBridge, SNS, LookupEvents).

A CloudTrail record (https://docs.aws.amazon.com/awscloudtrail/latest/userguide/cloudtrail-event-reference-record-contents.html)
becomes one change per service it maps to (``integrations.aws.mapping``), or one unmapped change keyed by its
resource. Only writes (``readOnly: false``) whose ``eventName`` is on the connection's allow-list become changes;
failed calls (``errorCode``) are dropped unless ``keep_failed`` is set. ``external_id`` is the record's
``eventID`` (``<eventID>/<service>`` when one event lands on several services), the same however it arrived, so
an event pushed and polled is stored once.
"""

from __future__ import annotations

from collections.abc import Mapping
from fnmatch import fnmatchcase
from typing import Any

from integrations.aws import mapping, summaries
from integrations.base import (
    ChangeRecord,
    ParseError,
    ServiceHint,
    UnsupportedEvent,
    parse_time,
    require,
    require_str,
)

SOURCE = "aws"

#: the default allow-list (``fnmatch`` patterns over ``eventName``): calls that change how traffic flows or how a
#: service runs. Lambda's event names carry an API version suffix (``UpdateFunctionConfiguration20150331v2``).
DEFAULT_EVENT_NAMES = (
    "AuthorizeSecurityGroupIngress",
    "AuthorizeSecurityGroupEgress",
    "RevokeSecurityGroupIngress",
    "RevokeSecurityGroupEgress",
    "ModifySecurityGroupRules",
    "ModifyDB*",
    "UpdateFunctionCode*",
    "UpdateFunctionConfiguration*",
    "PutParameter",
    "AttachRolePolicy",
    "AttachUserPolicy",
    "AttachGroupPolicy",
    "PutRolePolicy",
    "PutUserPolicy",
    "PutGroupPolicy",
    "UpdateService",
    "UpdateAutoScalingGroup",
    "ChangeResourceRecordSets",
    "CreateListener",
    "ModifyListener",
    "DeleteListener",
    "ModifyRule",
    "ModifyTargetGroup",
    "RegisterTargets",
    "DeregisterTargets",
)

#: request parameters that name the resource a call changed, in the order a summary prefers them
RESOURCE_PARAMETERS = (
    "groupId",
    "dBInstanceIdentifier",
    "dBClusterIdentifier",
    "dBParameterGroupName",
    "dBClusterParameterGroupName",
    "functionName",
    "name",
    "roleName",
    "userName",
    "groupName",
    "service",
    "cluster",
    "autoScalingGroupName",
    "hostedZoneId",
    "listenerArn",
    "ruleArn",
    "targetGroupArn",
    "loadBalancerArn",
    "policyArn",
)
#: response elements holding the ARN of what was changed
RESOURCE_RESPONSES = ("dBInstanceArn", "dBClusterArn", "functionArn", "serviceArn")
#: request parameters never copied to the change: values rather than settings (the scrubber hashes credential-
#: named keys anyway; a parameter's or a function's environment value is not credential-named)
DROPPED_PARAMETERS = frozenset({"value", "environment", "zipFile", "policyDocument", "masterUserPassword"})


def event_names(config: Mapping[str, Any]) -> tuple[str, ...]:
    """The allow-list of the connection (comma-separated ``fnmatch`` patterns), or ``DEFAULT_EVENT_NAMES``."""
    listed = tuple(n.strip() for n in str(config.get("event_names") or "").split(",") if n.strip())
    return listed or DEFAULT_EVENT_NAMES


def keep_failed(config: Mapping[str, Any]) -> bool:
    return str(config.get("keep_failed") or "").strip().lower() in {"1", "true", "yes", "on"}


def check_wanted(record: Mapping[str, Any], config: Mapping[str, Any]) -> str:
    """The record's ``eventName`` when it should become a change; ``UnsupportedEvent`` saying why not."""
    name = require_str(record, "eventName")
    if record.get("readOnly") is not False:
        raise UnsupportedEvent(f"CloudTrail {name}: read-only call (only writes are changes)")
    if record.get("errorCode") and not keep_failed(config):
        raise UnsupportedEvent(f"CloudTrail {name}: failed call ({record['errorCode']}), dropped by default")
    if not any(fnmatchcase(name, pattern) for pattern in event_names(config)):
        raise UnsupportedEvent(f"CloudTrail {name}: not on this connection's event-name allow-list")
    return name


def changes(record: Any, config: Mapping[str, Any]) -> list[ChangeRecord]:
    """The changes of one CloudTrail record. Raises ``UnsupportedEvent`` (not wanted, see ``check_wanted``) or
    ``ParseError`` (a record without its documented fields, or a ``service_rules`` setting that cannot be read)."""
    if not isinstance(record, Mapping):
        raise ParseError("a CloudTrail record must be a JSON object")
    name = check_wanted(record, config)
    event_id = require_str(record, "eventID")
    region = require_str(record, "awsRegion")
    source = require_str(record, "eventSource")
    identity = require(record, "userIdentity")
    if not isinstance(identity, Mapping):
        raise ParseError("field 'userIdentity' must be an object")
    account = str(record.get("recipientAccountId") or identity.get("accountId") or "")
    given = record.get("requestParameters")
    params: Mapping[str, Any] = given if isinstance(given, Mapping) else {}
    resources = resources_of(record, params)
    tags = tags_of(params)
    who = actor_name(identity)
    details: dict[str, Any] = {
        # the call's name without Lambda's API version ("UpdateFunctionConfiguration"): what risk is graded by
        "event_name": summaries.short_event_name(name),
        "event_source": source,
        "region": region,
        "account": account,
        "resources": resources,
        "request_parameters": {k: v for k, v in params.items() if k not in DROPPED_PARAMETERS},
        "actor_arn": str(identity.get("arn") or ""),
        "session_name": session_name(identity),
        "identity_type": str(identity.get("type") or ""),
        "source_ip": str(record.get("sourceIPAddress") or ""),
    }
    if details["event_name"] != name:
        details["cloudtrail_event_name"] = name
    if tags:
        details["tags"] = tags
    if record.get("errorCode"):
        details["error_code"] = str(record["errorCode"])
        details["error_message"] = str(record.get("errorMessage") or "")[:500]
    common: dict[str, Any] = {
        "source": SOURCE,
        "kind": "infra",
        "occurred_at": parse_time(require(record, "eventTime"), "eventTime"),
        "summary": summaries.summary(name, params, resources, who, failed=bool(record.get("errorCode"))),
        "actor": str(identity.get("arn") or who),
        "severity": "warning" if record.get("errorCode") else "info",
        "details": details,
        "links": ({"text": "CloudTrail event history", "href": console_link(region, event_id)},),
    }
    targets = mapping.services_for(mapping.parse_rules(str(config.get("service_rules") or "")), resources, tags)
    if not targets:
        key = resources[0] if resources else f"{source}:{name}"
        return [ChangeRecord(external_id=event_id, service=ServiceHint(keys=(("aws_resource", key),)), **common)]
    return [
        ChangeRecord(
            external_id=event_id if len(targets) == 1 else f"{event_id}/{target}",
            service=ServiceHint.from_path(target),
            **common,
        )
        for target in targets
    ]


def resources_of(record: Mapping[str, Any], params: Mapping[str, Any]) -> list[str]:
    """The resources a record names: its ``resources[].ARN``, the identifying request parameters and the ARNs in
    its response, each once, in that order."""
    found: dict[str, None] = {}
    listed = record.get("resources")
    for item in listed if isinstance(listed, list) else []:
        if isinstance(item, Mapping) and isinstance(item.get("ARN"), str) and item["ARN"]:
            found.setdefault(item["ARN"], None)
    nested = params.get("ModifySecurityGroupRulesRequest")  # EC2 wraps this call's parameters once more
    for source in (params, nested if isinstance(nested, Mapping) else {}):
        for key in (*RESOURCE_PARAMETERS, "GroupId"):
            value = source.get(key)
            if isinstance(value, str) and value:
                found.setdefault(value, None)
    response = record.get("responseElements")
    if isinstance(response, Mapping):
        for key in RESOURCE_RESPONSES:
            value = response.get(key)
            inner = response.get("service")
            if key == "serviceArn" and isinstance(inner, Mapping):  # ECS answers {"service": {"serviceArn": ...}}
                value = inner.get(key)
            if isinstance(value, str) and value:
                found.setdefault(value, None)
    return list(found)


def tags_of(params: Mapping[str, Any]) -> dict[str, str]:
    """Tags carried in the request, whatever the service's spelling: ``tags`` as an object (Lambda) or a list of
    ``{key|Key, value|Value}`` (RDS, ECS), ``tagSpecificationSet.items[].tags`` (EC2)."""
    out: dict[str, str] = {}
    lists: list[Any] = []
    tags = params.get("tags") if "tags" in params else params.get("Tags")
    if isinstance(tags, Mapping):
        out.update({str(k): str(v) for k, v in tags.items()})
    elif isinstance(tags, list):
        lists.append(tags)
    spec = params.get("tagSpecificationSet")
    for item in spec.get("items", []) if isinstance(spec, Mapping) else []:
        if isinstance(item, Mapping):
            lists.append(item.get("tags"))
    for listed in lists:
        for tag in listed if isinstance(listed, list) else []:
            if isinstance(tag, Mapping):
                key, value = tag.get("key", tag.get("Key")), tag.get("value", tag.get("Value"))
                if isinstance(key, str) and key:
                    out.setdefault(key, str(value if value is not None else ""))
    return out


def session_name(identity: Mapping[str, Any]) -> str:
    """The role session name of an assumed role (the last part of ``arn:aws:sts::<acct>:assumed-role/<role>/
    <session>``), else ""."""
    arn = str(identity.get("arn") or "")
    if identity.get("type") == "AssumedRole" and arn.count("/") >= 2:
        return arn.rsplit("/", 1)[1]
    return ""


def actor_name(identity: Mapping[str, Any]) -> str:
    """Who, readably: the role session name, the IAM user name, the AWS service that acted, else the ARN."""
    return (
        session_name(identity)
        or str(identity.get("userName") or "")
        or str(identity.get("invokedBy") or "")
        or str(identity.get("arn") or identity.get("type") or "unknown")
    )


def console_link(region: str, event_id: str) -> str:
    return f"https://{region}.console.aws.amazon.com/cloudtrailv2/home?region={region}#/events/{event_id}"
