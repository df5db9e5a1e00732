"""Which services an AWS resource belongs to: the connection's ``service_rules`` setting.

Rules are separated by ``;`` (the setup form has one line per setting), each one of:

- ``<glob> => <service>[, <service>...]``: a resource ARN or name matching the ``fnmatch`` pattern (case-sensitive,
  as AWS names are) maps to every listed service: a security group or a database serves many, and the change
  appears on each, as a ConfigMap change appears on every workload that mounts it;
- ``tag:<Key>=<glob> => <service>[, ...]``: a tag carried in the event's request parameters;
- ``tag:<Key>``: the value of that tag names the service.

Services are written as changetrack names them: ``name``, ``namespace/name`` or ``cluster/namespace/name``.
Pure: no Django, no network.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from fnmatch import fnmatchcase

from integrations.base import ParseError

TAG = "tag:"


@dataclass(frozen=True)
class Rule:
    """One mapping rule: ``pattern`` over resources (or over the value of ``tag`` when set); ``services`` empty
    means "the tag's value is the service"."""

    pattern: str
    services: tuple[str, ...]
    tag: str = ""

    def targets(self, resources: Iterable[str], tags: Mapping[str, str]) -> list[str]:
        if self.tag:
            value = tags.get(self.tag)
            if value is None or not fnmatchcase(value, self.pattern):
                return []
            return list(self.services) if self.services else [value]
        return list(self.services) if any(fnmatchcase(r, self.pattern) for r in resources) else []


def parse_rules(text: str) -> tuple[Rule, ...]:
    """The rules of a ``service_rules`` setting; ``ParseError`` names the first one that cannot be read."""
    rules: list[Rule] = []
    for raw in (text or "").split(";"):
        item = raw.strip()
        if not item:
            continue
        left, arrow, right = (part.strip() for part in item.partition("=>"))
        services = tuple(s.strip() for s in right.split(",") if s.strip())
        if arrow and not services:
            raise ParseError(f"service rule {item!r} names no service after '=>'")
        if left.startswith(TAG):
            key, _, pattern = left[len(TAG) :].partition("=")
            if not key.strip():
                raise ParseError(f"service rule {item!r} names no tag")
            rules.append(Rule(pattern.strip() or "*", services, tag=key.strip()))
        elif not arrow or not left:
            raise ParseError(f"service rule {item!r} is not '<pattern> => <service>' nor 'tag:<Key>'")
        else:
            rules.append(Rule(left, services))
    return tuple(rules)


def services_for(rules: Iterable[Rule], resources: Iterable[str], tags: Mapping[str, str]) -> list[str]:
    """Every service any rule maps these resources or tags to, in rule order, each once."""
    listed = list(resources)
    found: dict[str, None] = {}
    for rule in rules:
        for service in rule.targets(listed, tags):
            found.setdefault(service, None)
    return list(found)
