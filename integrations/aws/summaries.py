"""One readable line per CloudTrail call: "sg-0a1b ingress 443 from 0.0.0.0/0 revoked by deploy-bot".

Security-group rule calls spell out their rules (``ipPermissions.items[]``: protocol, ports, CIDR ranges, peer
groups, as EC2 logs them); Route 53 changes their record sets; everything else is "<call> <resource> by <who>".
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

_VERSION_SUFFIX = re.compile(r"\d{8}(v\d+)?$")
_SG_CALL = re.compile(r"^(Authorize|Revoke)SecurityGroup(Ingress|Egress)$")
MAX_RULES_SHOWN = 3
#: settings worth reading in the summary line, when the request carries them
SHOWN_PARAMETERS = (
    "policyName",
    "taskDefinition",
    "desiredCount",
    "minSize",
    "maxSize",
    "desiredCapacity",
    "dBInstanceClass",
    "allocatedStorage",
    "memorySize",
    "timeout",
    "healthCheckPath",
    "port",
)


def short_event_name(name: str) -> str:
    """``UpdateFunctionConfiguration20150331v2`` → ``UpdateFunctionConfiguration`` (Lambda versions its names)."""
    return _VERSION_SUFFIX.sub("", name)


def summary(name: str, params: Mapping[str, Any], resources: Sequence[str], who: str, *, failed: bool) -> str:
    call = short_event_name(name)
    sg = _SG_CALL.match(call)
    if sg:
        verb = "authorized" if sg.group(1) == "Authorize" else "revoked"
        egress = sg.group(2) == "Egress"
        rules = _rules(params, "to" if egress else "from")
        text = f"{params.get('groupId') or _first(resources)} {sg.group(2).lower()} {rules} {verb}"
    elif call == "ChangeResourceRecordSets":
        text = f"Route 53 {params.get('hostedZoneId') or _first(resources)}: {_record_changes(params)}"
    else:
        text = f"{call} {readable(_first(resources))}{_settings(params)}".rstrip()
    return f"{text} by {who}" + (" (failed)" if failed else "")


def _first(resources: Sequence[str]) -> str:
    return resources[0] if resources else ""


def _items(value: Any) -> list[Mapping[str, Any]]:
    """EC2's ``{"items": [...]}`` lists (and plain lists), keeping only objects."""
    if isinstance(value, Mapping):
        value = value.get("items")
    return [v for v in value if isinstance(v, Mapping)] if isinstance(value, list) else []


def readable(resource: str) -> str:
    """An ARN without its ``arn:partition:service:region:account:`` prefix; a load balancer's parts without their
    generated ids (``targetgroup/checkout-tg``)."""
    if not resource.startswith("arn:") or resource.count(":") < 5:
        return resource
    rest = resource.split(":", 5)[5]
    if ":elasticloadbalancing:" in resource:
        parts = rest.split("/")
        return "/".join(parts[:2] if parts[0] == "targetgroup" else parts[:3])
    return rest


def _settings(params: Mapping[str, Any]) -> str:
    shown = [f"{key} {params[key]}" for key in SHOWN_PARAMETERS if isinstance(params.get(key), (str, int))]
    if isinstance(params.get("policyArn"), str):
        shown.insert(0, f"policy {params['policyArn'].rsplit('/', 1)[-1]}")
    return f" ({', '.join(shown)})" if shown else ""


def _rules(params: Mapping[str, Any], preposition: str) -> str:
    rules = [_rule(p, preposition) for p in _items(params.get("ipPermissions"))]
    if not rules:
        return "rules"
    shown = ", ".join(rules[:MAX_RULES_SHOWN])
    return shown + (f" (+{len(rules) - MAX_RULES_SHOWN} more)" if len(rules) > MAX_RULES_SHOWN else "")


def _rule(permission: Mapping[str, Any], preposition: str) -> str:
    protocol = str(permission.get("ipProtocol", ""))
    low, high = permission.get("fromPort"), permission.get("toPort")
    if protocol == "-1":
        ports = "all traffic"
    elif low == high:
        ports = f"{low}" if protocol == "tcp" else f"{protocol}/{low}"
    else:
        ports = f"{low}-{high}" if protocol == "tcp" else f"{protocol}/{low}-{high}"
    peers = [str(r.get("cidrIp")) for r in _items(permission.get("ipRanges")) if r.get("cidrIp")]
    peers += [str(r.get("cidrIpv6")) for r in _items(permission.get("ipv6Ranges")) if r.get("cidrIpv6")]
    peers += [str(g.get("groupId")) for g in _items(permission.get("groups")) if g.get("groupId")]
    peers += [str(p.get("prefixListId")) for p in _items(permission.get("prefixListIds")) if p.get("prefixListId")]
    return f"{ports} {preposition} {', '.join(peers)}" if peers else ports


def _record_changes(params: Mapping[str, Any]) -> str:
    batch = params.get("changeBatch")
    changes = batch.get("changes") if isinstance(batch, Mapping) else None
    listed = [c for c in changes if isinstance(c, Mapping)] if isinstance(changes, list) else []
    parts = []
    for change in listed[:MAX_RULES_SHOWN]:
        record_set = change.get("resourceRecordSet")
        record_set = record_set if isinstance(record_set, Mapping) else {}
        parts.append(f"{change.get('action', '')} {record_set.get('name', '')} {record_set.get('type', '')}".strip())
    more = f" (+{len(listed) - MAX_RULES_SHOWN} more)" if len(listed) > MAX_RULES_SHOWN else ""
    return (", ".join(parts) or "record sets changed") + more
