"""How big a change is, read from every shape a source sends (pure functions, no database).

Sources describe what changed in three shapes, and all three are read the same way:

- the Kubernetes collector's ``diff``: ``[{"path": "spec.replicas", "before": 50, "after": 5}, ...]``;
- the API contract's ``details``: ``{"replicas": {"from": 30, "to": 3}, "image": {"from": "...", "to": "..."}}``
  (generic webhooks, CI tools, scripts); ``before``/``after`` and ``old``/``new`` are read too;
- plain version strings in ``details`` (``{"version": "2.14.0", "previous_version": "2.13.1"}``).

From the (field, before, after) triples: replica cuts (capacity removed), image and version changes with their
semantic-version distance (``packaging.version``: a major jump is riskier than a patch; a build number is no
version), and the configuration keys touched (how many, and whether they tune connections, limits or timeouts).
AWS CloudTrail changes (kind ``infra``) carry ``event_name``: removing an ingress rule or changing a database
parameter is riskier than editing tags (``INFRA_EVENTS``).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from packaging.version import InvalidVersion, Version

IMAGE_FIELD = re.compile(r"(^|[._\[\]])image$|containers\[.*\]\.image$", re.IGNORECASE)
VERSION_FIELD = re.compile(r"(^|[._])(version|tag|release|chart_version|app_version)$", re.IGNORECASE)
REPLICAS_FIELD = re.compile(
    r"(^|[._])(replicas|replica_count|desired_count|desiredcount|desired_capacity|desiredcapacity|instances"
    r"|min_size|minsize|minreplicas|min_replicas)$",
    re.IGNORECASE,
)
CONFIG_FIELD = re.compile(r"^(data|binaryData|stringData|config|env|parameters|settings)[.\[]", re.IGNORECASE)
#: configuration keys that tune capacity and connections: a wrong value there takes a service down
SENSITIVE_KEY = re.compile(
    r"timeout|pool|limit|max|min|conn|url|host|endpoint|port|memory|cpu|thread|worker|size|ttl|retr|rate|queue",
    re.IGNORECASE,
)
#: pairs in ``details`` naming a version and the one it replaced
VERSION_PAIRS = (("previous_version", "version"), ("from_version", "to_version"), ("old_version", "new_version"))

#: CloudTrail event → (risk of the change, what it did). A removed ingress rule, a database parameter, DNS or a
#: load balancer listener break traffic at once; adding a permission or a tag rarely breaks anything.
INFRA_EVENTS: dict[str, tuple[float, str]] = {
    "RevokeSecurityGroupIngress": (0.95, "ingress rule removed"),
    "RevokeSecurityGroupEgress": (0.9, "egress rule removed"),
    "DeleteSecurityGroup": (0.85, "security group deleted"),
    "ModifyDBParameterGroup": (0.9, "database parameter changed"),
    "ResetDBParameterGroup": (0.9, "database parameters reset"),
    "ModifyDBInstance": (0.8, "database instance modified"),
    "ModifyDBCluster": (0.8, "database cluster modified"),
    "RebootDBInstance": (0.85, "database instance rebooted"),
    "ChangeResourceRecordSets": (0.85, "DNS records changed"),
    "ModifyListener": (0.8, "load balancer listener changed"),
    "DeleteListener": (0.9, "load balancer listener deleted"),
    "ModifyTargetGroup": (0.7, "load balancer target group changed"),
    "DeregisterTargets": (0.75, "targets removed from the load balancer"),
    "UpdateFunctionConfiguration": (0.7, "function configuration changed"),
    "UpdateFunctionCode": (0.7, "function code changed"),
    "PutParameter": (0.65, "parameter changed"),
    "PutSecretValue": (0.65, "secret value changed"),
    "UpdateService": (0.65, "service updated"),
    "UpdateAutoScalingGroup": (0.5, "auto scaling group updated"),
    "DetachRolePolicy": (0.75, "policy detached from a role"),
    "DeleteRolePolicy": (0.75, "role policy deleted"),
    "PutRolePolicy": (0.5, "role policy changed"),
    "AttachRolePolicy": (0.35, "policy attached to a role"),
    "AuthorizeSecurityGroupIngress": (0.3, "ingress rule added"),
    "AuthorizeSecurityGroupEgress": (0.3, "egress rule added"),
    "CreateTags": (0.05, "tags edited"),
    "DeleteTags": (0.05, "tags edited"),
    "AddTagsToResource": (0.05, "tags edited"),
    "TagResource": (0.05, "tags edited"),
    "UntagResource": (0.05, "tags edited"),
}
INFRA_UNKNOWN = 0.5  # an infrastructure event not in the table

#: risk added by the semantic distance of a version change (on top of the image change itself)
VERSION_BONUS = {"major": 0.2, "minor": 0.08, "patch": 0.0, "downgrade": 0.05}
IMAGE_BONUS = 0.1
CUT_WEIGHT = 0.7  # times the share of replicas removed
KEY_BONUS = 0.03  # per configuration key touched...
KEYS_BONUS_MAX = 0.12  # ...up to this
SENSITIVE_BONUS = 0.08  # once, when a touched key tunes connections, limits or timeouts
KEYS_NAMED = 3  # keys named in the note


@dataclass
class Magnitude:
    """What the change's size adds to its kind's risk (``bonus``), or replaces it with (``base``), and why."""

    bonus: float = 0.0
    base: float | None = None
    notes: list[str] = field(default_factory=list)
    replicas: tuple[float, float] | None = None
    image_changed: bool = False


def triples(diff: Any, details: Any) -> Iterator[tuple[str, Any, Any]]:
    """(field, before, after) from a ``diff`` list and from ``details`` entries shaped {"from": x, "to": y}."""
    if isinstance(diff, list | tuple):
        for item in diff:
            if isinstance(item, dict) and "path" in item:
                yield str(item["path"]), item.get("before"), item.get("after")
    if isinstance(details, dict):
        for name, value in details.items():
            if isinstance(value, dict):
                for a, b in (("from", "to"), ("before", "after"), ("old", "new")):
                    if a in value or b in value:
                        yield str(name), value.get(a), value.get(b)
                        break
        for old, new in VERSION_PAIRS:
            if isinstance(details.get(old), str | int | float) and isinstance(details.get(new), str | int | float):
                yield "version", details[old], details[new]


def number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            return None
    return None


def _tag(value: Any) -> str:
    """The tag of an image reference (``repo/app:2.14.0@sha256:...`` → ``2.14.0``), or the string itself."""
    text = str(value).split("@", 1)[0]
    last = text.rsplit("/", 1)[-1]
    return last.rsplit(":", 1)[1] if ":" in last else text


def version(value: Any) -> Version | None:
    """A semantic version with at least major.minor (a bare build number such as ``api:812`` is no version)."""
    if value is None or isinstance(value, bool):
        return None
    try:
        parsed = Version(_tag(value).strip())
    except InvalidVersion:
        return None
    return parsed if len(parsed.release) >= 2 else None


def version_distance(before: Any, after: Any) -> str | None:
    """``major``, ``minor``, ``patch`` or ``downgrade`` between two versions; None when either is no version."""
    a, b = version(before), version(after)
    if a is None or b is None or a == b:
        return None
    if b < a:
        return "downgrade"
    ra, rb = (*a.release, 0, 0)[:3], (*b.release, 0, 0)[:3]
    if ra[0] != rb[0]:
        return "major"
    if ra[1] != rb[1]:
        return "minor"
    return "patch"


def replica_change(diff: Any, details: Any = None) -> tuple[float, float] | None:
    """(before, after) of the first replica count in ``diff`` or ``details``, if any."""
    for name, before, after in triples(diff, details):
        if REPLICAS_FIELD.search(name):
            b, a = number(before), number(after)
            if b is not None and a is not None:
                return b, a
    return None


def _config_key(name: str) -> str | None:
    match = CONFIG_FIELD.match(name)
    return name[match.end() :].strip("[]'\"") if match else None


def infra_event(details: Any) -> str:
    if not isinstance(details, dict):
        return ""
    return str(details.get("event_name") or details.get("eventName") or "")


def read(kind: str, diff: Any, details: Any) -> Magnitude:
    """The magnitude of one change of ``kind`` (see the module docstring)."""
    out = Magnitude()
    keys: list[str] = []
    distance: str | None = None
    for name, before, after in triples(diff, details):
        if before == after:
            continue
        if REPLICAS_FIELD.search(name):
            b, a = number(before), number(after)
            if b is not None and a is not None and out.replicas is None:
                out.replicas = (b, a)
            continue
        if IMAGE_FIELD.search(name) or VERSION_FIELD.search(name):
            out.image_changed = out.image_changed or bool(IMAGE_FIELD.search(name))
            distance = distance or version_distance(before, after)
            continue
        key = _config_key(name)
        if key is not None or kind in ("config", "secret"):
            keys.append(key or name)
    if kind == "infra":
        event = infra_event(details)
        if event:
            out.base, what = INFRA_EVENTS.get(event, (INFRA_UNKNOWN, ""))
            out.notes.append(f"{event}" + (f": {what}" if what else ""))
    if out.image_changed:
        out.bonus += IMAGE_BONUS
        out.notes.append("image changed")
    if distance:
        out.bonus += VERSION_BONUS[distance]
        out.notes.append(f"{distance} version change" if distance != "downgrade" else "version downgraded")
    if out.replicas and out.replicas[0] > 0 and kind != "autoscale":
        before, after = out.replicas
        if after < before:
            cut = 1 - after / before
            out.bonus += CUT_WEIGHT * cut  # capacity removed by hand: the deeper the cut, the likelier the overload
            out.notes.append(f"replicas {before:g} → {after:g}" + (f" ({cut:.0%} cut)" if cut >= 0.5 else ""))
        elif after > before:
            out.notes.append(f"replicas {before:g} → {after:g}")
    if keys:
        out.bonus += min(KEYS_BONUS_MAX, KEY_BONUS * len(keys))
        sensitive = [k for k in keys if SENSITIVE_KEY.search(k)]
        if sensitive:
            out.bonus += SENSITIVE_BONUS
        named = (sensitive + [k for k in keys if k not in sensitive])[:KEYS_NAMED]
        more = f" and {len(keys) - len(named)} more" if len(keys) > len(named) else ""
        out.notes.append(f"{len(keys)} key{'s' if len(keys) > 1 else ''} changed: {', '.join(named)}{more}")
    return out
