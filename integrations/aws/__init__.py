"""AWS: CloudTrail management events as ``infra`` changes, and the X-Ray service graph as dependencies.

CloudTrail events arrive three ways, all deduplicated on the record's ``eventID`` (``integrations.aws.cloudtrail``):

1. an **EventBridge API destination** POSTs the EventBridge envelope (``detail-type: "AWS API Call via
   CloudTrail"``, the record in ``detail``) with the connection's API key in the header its EventBridge
   connection names (``api_key_header``, default ``x-api-key``; the key is stored hashed);
2. an **SNS HTTPS subscription** POSTs signed SNS messages (``integrations.aws.sns``); the ``Message`` of a
   ``Notification`` holds the record, raw or in an EventBridge envelope; a ``SubscriptionConfirmation`` from an
   allowed topic is confirmed automatically;
3. **polling** ``LookupEvents`` (``integrations.aws.lookup``), which also reads the X-Ray service graph
   (``integrations.aws.xray``) when ``xray`` is on.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Mapping
from datetime import datetime
from fnmatch import fnmatchcase
from typing import Any

from integrations.aws import clients, cloudtrail, lookup, sns, xray
from integrations.base import (
    ConfigField,
    Integration,
    ParseError,
    PollResult,
    PollSession,
    Record,
    Secrets,
    UnsupportedEvent,
    VerificationError,
    parse_json,
    require_str,
)

CLOUDTRAIL_DETAIL_TYPE = "AWS API Call via CloudTrail"
DEFAULT_API_KEY_HEADER = "x-api-key"


def record_of_envelope(envelope: Any) -> Any:
    """The CloudTrail record in an EventBridge envelope (``detail``)."""
    if not isinstance(envelope, Mapping) or not isinstance(envelope.get("detail"), Mapping):
        raise ParseError("an EventBridge event carries its CloudTrail record in 'detail'")
    return envelope["detail"]


def parse_eventbridge(payload: Any, config: Mapping[str, Any]) -> list[Record]:
    return list(cloudtrail.changes(record_of_envelope(payload), config))


def parse_sns_notification(payload: Any, config: Mapping[str, Any]) -> list[Record]:
    """A ``Notification`` whose ``Message`` is a CloudTrail record, raw or in an EventBridge envelope."""
    text = require_str(payload, "Message")
    if not text.lstrip().startswith("{"):
        raise UnsupportedEvent("SNS notification whose Message is not a JSON object (not a CloudTrail event)")
    message = parse_json(text.encode())
    if isinstance(message, Mapping) and "detail-type" in message:
        if message["detail-type"] != CLOUDTRAIL_DETAIL_TYPE:
            raise UnsupportedEvent(f"SNS notification of EventBridge {str(message['detail-type'])[:60]!r}")
        return parse_eventbridge(message, config)
    if isinstance(message, Mapping) and "eventID" in message:
        return list(cloudtrail.changes(message, config))
    # CloudTrail's own topic announces log files ({"s3Bucket", "s3ObjectKey": [...]}), not events
    raise UnsupportedEvent("SNS notification without a CloudTrail event (a log-file notice?)")


class AwsIntegration(Integration):
    slug = "aws"
    label = "AWS"
    emits = ("changes", "dependencies")
    config_fields = (
        ConfigField(
            "api_key",
            "EventBridge API key",
            secret=True,
            hashed=True,
            help="The API key value of the EventBridge connection (API key authorization); stored as a hash.",
        ),
        ConfigField("api_key_header", "EventBridge API key header", help=f"Default {DEFAULT_API_KEY_HEADER}."),
        ConfigField(
            "sns_topic_arns",
            "SNS topic ARNs",
            help="Comma-separated (globs allowed) topics whose "
            "messages are accepted and whose subscriptions are confirmed; none: SNS is refused.",
        ),
        ConfigField(
            "event_names",
            "CloudTrail event names",
            help="Comma-separated fnmatch patterns of the calls "
            "that become changes (default: security groups, RDS Modify*, Lambda UpdateFunction*, SSM "
            "PutParameter, IAM policies, ECS UpdateService, Auto Scaling, Route 53, ELB).",
        ),
        ConfigField("keep_failed", "Keep failed calls", help="yes: calls with an errorCode become changes too."),
        ConfigField(
            "service_rules",
            "Service rules",
            help="';'-separated: '<ARN or name glob> => svc[, svc]', "
            "'tag:<Key>=<glob> => svc', or 'tag:<Key>' (the tag's value is the service).",
        ),
        ConfigField("regions", "Regions to poll", help="Comma-separated, e.g. eu-west-1,us-east-1 (none: no polling)."),
        ConfigField("access_key_id", "Access key ID", help="Empty: the default chain (IRSA, instance role)."),
        ConfigField("secret_access_key", "Secret access key", secret=True),
        ConfigField("role_arn", "Role to assume", help="Optional: assumed for every call."),
        ConfigField("endpoint_url", "Endpoint URL", help="Only for a local or private endpoint."),
        ConfigField("xray", "Read the X-Ray service graph", help="yes: dependencies from GetServiceGraph."),
        ConfigField("xray_window_minutes", "X-Ray window (minutes)", help=f"Default {xray.DEFAULT_WINDOW_MINUTES}."),
    )
    parsers = {
        CLOUDTRAIL_DETAIL_TYPE: parse_eventbridge,
        sns.NOTIFICATION: parse_sns_notification,
    }
    ignored_events = frozenset({sns.SUBSCRIPTION_CONFIRMATION, sns.UNSUBSCRIBE_CONFIRMATION})
    poll_interval = lookup.POLL_INTERVAL
    setup_instructions = (
        "EventBridge: create a rule on 'AWS API Call via CloudTrail' targeting an API destination at this "
        "connection's webhook URL, with a connection using API key authorization (the header name and key as "
        "set here). SNS: subscribe this URL (HTTPS) to the topic and list the topic ARN here; the subscription "
        "is confirmed automatically. Polling: list the regions and give credentials allowed "
        "cloudtrail:LookupEvents (and xray:GetServiceGraph)."
    )

    def verify(self, headers: Mapping[str, str], raw_body: bytes, secrets: Any) -> None:
        """Without the connection's settings only the default API key header can be checked."""
        self.verify_request(headers, raw_body, secrets, {})

    def verify_request(
        self, headers: Mapping[str, str], raw_body: bytes, secrets: Any, config: Mapping[str, Any]
    ) -> None:
        if headers.get(sns.TYPE_HEADER):
            self._verify_sns(headers, raw_body, config)
            return
        if not secrets.has("api_key"):
            raise VerificationError("this connection has no EventBridge API key configured")
        name = str(config.get("api_key_header") or DEFAULT_API_KEY_HEADER).strip()
        presented = headers.get(name)
        if not presented:
            raise VerificationError(f"API key header {name!r} missing")
        if not secrets.matches("api_key", presented):
            raise VerificationError("wrong API key")

    def _verify_sns(self, headers: Mapping[str, str], raw_body: bytes, config: Mapping[str, Any]) -> None:
        try:
            message = parse_json(raw_body)
        except ParseError:
            raise VerificationError("an SNS delivery's body is a JSON object") from None
        topics = [t.strip() for t in str(config.get("sns_topic_arns") or "").split(",") if t.strip()]
        topic = message.get("TopicArn") if isinstance(message, dict) else None
        if not isinstance(topic, str) or not any(fnmatchcase(topic, t) for t in topics):
            # anyone can subscribe this URL to a topic of their own, and AWS signs its messages too
            raise VerificationError("SNS topic not listed in this connection's SNS topic ARNs")
        if sns.verify_message(message, headers) == sns.SUBSCRIPTION_CONFIRMATION:
            sns.confirm(message["SubscribeURL"])

    def event_type(self, headers: Mapping[str, str], payload: Any) -> str:
        if not isinstance(payload, Mapping):
            raise ParseError("body must be a JSON object (an EventBridge event or an SNS message)")
        if "detail-type" in payload:
            return require_str(payload, "detail-type")
        return require_str(payload, "Type")

    def delivery_key(self, headers: Mapping[str, str], raw_body: bytes, payload: Any) -> str:
        """``aws:<eventID>`` when the delivery carries a CloudTrail event (EventBridge and SNS alike), else the
        SNS ``MessageId`` or the EventBridge ``id``."""
        found = payload.get("detail") if isinstance(payload, Mapping) else None
        if isinstance(payload, Mapping) and isinstance(payload.get("Message"), str):
            try:
                inner = parse_json(payload["Message"].encode())
            except ParseError:
                inner = None
            found = inner.get("detail", inner) if isinstance(inner, dict) else None
        if isinstance(found, Mapping) and isinstance(found.get("eventID"), str):
            return f"aws:{found['eventID']}"
        for key in ("MessageId", "id"):
            if isinstance(payload, Mapping) and isinstance(payload.get(key), str):
                return f"aws:{key}:{payload[key]}"
        return hashlib.sha256(raw_body).hexdigest()

    def poll_ready(self, config: Mapping[str, Any], secrets: Secrets) -> bool:
        return bool(clients.regions(config))

    def poll(
        self, config: Mapping[str, Any], secrets: Secrets, state: Mapping[str, Any], now: datetime, session: PollSession
    ) -> Iterator[PollResult]:
        """CloudTrail ``LookupEvents`` per region (``integrations.aws.lookup``), then the X-Ray graph."""
        latest: Mapping[str, Any] = state
        for step in lookup.poll(config, secrets, state, now, session):
            latest = step.state
            yield step
        if xray.enabled(config):
            yield from xray.poll(config, secrets, latest, now, session)
