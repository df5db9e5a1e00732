"""A local server speaking two AWS wire protocols, for the unmodified boto3:

- CloudTrail's JSON 1.1 protocol: ``POST /`` with ``X-Amz-Target: com.amazonaws.cloudtrail.v20131101.
  CloudTrail_20131101.LookupEvents`` and ``Content-Type: application/x-amz-json-1.1``; events newest first,
  filtered by ``StartTime``/``EndTime`` (epoch seconds) and the one ``LookupAttributes`` entry, ``MaxResults``
  per page, ``NextToken``; errors as ``{"__type": ..., "message": ...}`` with status 400;
- X-Ray's REST-JSON protocol: ``POST /ServiceGraph`` answering ``Services`` page by page with ``NextToken``;
- STS's Query protocol for ``AssumeRole`` (a form-encoded ``POST /``, an XML answer).
"""

from __future__ import annotations

import json
import threading
import time
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs

from tests.integrations.vendor_http import JsonHandler, LocalServer

ASSUMED_KEY_ID = "ASIAASSUMEDEXAMPLE01"
ASSUMED_TOKEN = "FwoGZXIvYXdzEXAMPLEsessiontoken"  # noqa: S105 - a made-up session token
LOOKUP_TARGET = "com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.LookupEvents"


class FakeAws(LocalServer):
    def __init__(self) -> None:
        self.records: list[dict[str, Any]] = []  # CloudTrail records, as CloudTrailEvent carries them
        self.throttle_at: set[int] = set()  # answer these LookupEvents requests (1-based) with ThrottlingException
        self.generation = 0  # tokens of an older generation are answered InvalidNextTokenException (expired)
        self.lookups: list[dict[str, Any]] = []  # request bodies, with "_at" (monotonic) and "_auth"
        self.requests: list[str] = []  # one entry per LookupEvents request (the runner's tests clear it)
        self.failures: list[tuple[int, dict[str, str]]] = []  # (status, headers) answered, one per request
        self.later_page_failures: list[tuple[int, dict[str, str]]] = []  # the same, for requests with a NextToken only
        self.stall_later_pages = False  # requests with a NextToken are read and never answered until released
        self.released = threading.Event()
        self.graph_pages: list[list[dict[str, Any]]] = []
        self.graph_requests: list[dict[str, Any]] = []
        self.assumed: list[dict[str, str]] = []  # STS AssumeRole requests (form fields)
        fake = self

        class Handler(JsonHandler):
            def do_POST(self) -> None:  # noqa: N802
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if self.headers.get("Content-Type", "").startswith("application/x-www-form-urlencoded"):
                    return fake.assume_role(self, {k: v[0] for k, v in parse_qs(raw.decode()).items()})
                body = json.loads(raw or b"{}")
                if self.path == "/ServiceGraph":
                    return fake.service_graph(self, body)
                if self.headers.get("X-Amz-Target") != LOOKUP_TARGET:
                    return self._send(400, {"__type": "UnknownOperationException", "message": "unknown"})
                if self.headers.get("Content-Type") != "application/x-amz-json-1.1":
                    return self._send(400, {"__type": "SerializationException", "message": "content type"})
                fake.lookups.append(
                    {
                        **body,
                        "_at": time.monotonic(),
                        "_auth": self.headers.get("Authorization"),
                        "_token": self.headers.get("X-Amz-Security-Token"),
                    }
                )
                fake.requests.append(str(body.get("NextToken") or ""))
                later = bool(body.get("NextToken"))
                if later and fake.stall_later_pages:
                    fake.released.wait(60)  # bounded so a broken test cannot hang the server thread forever
                    self.close_connection = True
                    return None
                queue = fake.later_page_failures if later and fake.later_page_failures else fake.failures
                if queue:
                    status, headers = queue.pop(0)
                    return self._send(status, {"__type": "InternalFailure", "message": "failure"}, headers)
                if len(fake.lookups) in fake.throttle_at:
                    return self._send(400, {"__type": "ThrottlingException", "message": "Rate exceeded"})
                return fake.lookup(self, body)

        self.serve(Handler)

    def lookup(self, handler: JsonHandler, body: dict[str, Any]) -> None:
        attributes = body.get("LookupAttributes") or []
        if len(attributes) > 1:
            return handler._send(400, {"__type": "InvalidLookupAttributesException", "message": "one attribute"})
        start, end = float(body.get("StartTime", 0)), float(body.get("EndTime", 1e12))
        size = int(body.get("MaxResults", 50))
        if not 1 <= size <= 50:
            return handler._send(400, {"__type": "InvalidMaxResultsException", "message": "1..50"})
        matching = [
            r
            for r in self.records
            if start <= _epoch(r["eventTime"]) <= end
            and all(
                a["AttributeKey"] != "ReadOnly" or str(r["readOnly"]).lower() == a["AttributeValue"] for a in attributes
            )
        ]
        matching.sort(key=lambda r: _epoch(r["eventTime"]), reverse=True)
        token = body.get("NextToken")
        if token and not token.endswith(f"-g{self.generation}"):
            return handler._send(400, {"__type": "InvalidNextTokenException", "message": "token expired"})
        offset = int(token.split("-")[1]) if token else 0
        page = matching[offset : offset + size]
        answer: dict[str, Any] = {"Events": [_event(r) for r in page]}
        if offset + size < len(matching):
            answer["NextToken"] = f"page-{offset + size}-g{self.generation}"
        handler._send(200, answer)

    def assume_role(self, handler: JsonHandler, form: dict[str, str]) -> None:
        """STS ``AssumeRole`` in the Query protocol (form-encoded request, XML answer)."""
        self.assumed.append(form)
        if form.get("Action") != "AssumeRole":
            handler.send_response(400)
            handler.end_headers()
            return
        xml = (
            '<AssumeRoleResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><AssumeRoleResult>'
            f"<Credentials><AccessKeyId>{ASSUMED_KEY_ID}</AccessKeyId><SecretAccessKey>assumed-secret</SecretAccessKey>"
            f"<SessionToken>{ASSUMED_TOKEN}</SessionToken><Expiration>2099-01-01T00:00:00Z</Expiration></Credentials>"
            f"<AssumedRoleUser><AssumedRoleId>AROAEXAMPLE:{form.get('RoleSessionName')}</AssumedRoleId>"
            f"<Arn>{form.get('RoleArn')}</Arn></AssumedRoleUser></AssumeRoleResult>"
            "<ResponseMetadata><RequestId>c6104cbe-af31-11e0-8154-cbc7ccf896c7</RequestId></ResponseMetadata>"
            "</AssumeRoleResponse>"
        ).encode()
        handler.send_response(200)
        handler.send_header("Content-Type", "text/xml")
        handler.send_header("Content-Length", str(len(xml)))
        handler.end_headers()
        handler.wfile.write(xml)

    def service_graph(self, handler: JsonHandler, body: dict[str, Any]) -> None:
        self.graph_requests.append(body)
        token = body.get("NextToken")
        index = int(token) if token else 0
        answer: dict[str, Any] = {
            "StartTime": body["StartTime"],
            "EndTime": body["EndTime"],
            "Services": self.graph_pages[index] if index < len(self.graph_pages) else [],
            "ContainsOldGroupVersions": False,
        }
        if index + 1 < len(self.graph_pages):
            answer["NextToken"] = str(index + 1)
        handler._send(200, answer)


def _epoch(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def _event(record: dict[str, Any]) -> dict[str, Any]:
    """A LookupEvents ``Events[]`` item: the summary fields and the record itself as a JSON string."""
    identity = record.get("userIdentity") or {}
    return {
        "EventId": record["eventID"],
        "EventName": record["eventName"],
        "ReadOnly": str(record["readOnly"]).lower(),
        "AccessKeyId": identity.get("accessKeyId", ""),
        "EventTime": _epoch(record["eventTime"]),
        "EventSource": record["eventSource"],
        "Username": identity.get("userName") or str(identity.get("arn", "")).rsplit("/", 1)[-1],
        "Resources": [],
        "CloudTrailEvent": json.dumps(record),
    }
