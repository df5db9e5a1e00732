"""Where an alert is announced: for each enabled push connection, the channels its routing rules give."""

from __future__ import annotations

from dataclasses import dataclass

from changetrack.models import Alert, Connection, RoutingRule
from changetrack.models.notify import SEVERITY_ORDER
from integrations import registry

#: with no matching rule, a connection announces alerts this severe to its own channel
DEFAULT_SEVERITIES = frozenset({"critical", "error"})


@dataclass(frozen=True)
class Route:
    connection: Connection
    channel: str  # empty for destinations without channels (an outgoing webhook)


def push_slugs() -> list[str]:
    """The destinations that announce alerts (Slack, outgoing webhooks; not Grafana annotations)."""
    return sorted(
        slug for slug, i in registry.INTEGRATIONS.items() if getattr(i, "pushes", False) and getattr(i, "notices", True)
    )


def severe_enough(severity: str, minimum: str) -> bool:
    order = [str(s) for s in SEVERITY_ORDER]
    rank = order.index(severity) if severity in order else len(order)
    return rank <= (order.index(minimum) if minimum in order else len(order))


def matches(rule: RoutingRule, alert: Alert) -> bool:
    """Every criterion the rule sets holds for ``alert`` (service criteria fail for an unmapped alert)."""
    service = alert.service
    if (rule.team or rule.service_id or rule.cluster or rule.namespace) and service is None:
        return False
    if rule.service_id and rule.service_id != alert.service_id:
        return False
    if service is not None:
        if rule.team and rule.team != service.team:
            return False
        if rule.cluster and rule.cluster != (service.cluster.name if service.cluster else ""):
            return False
        if rule.namespace and rule.namespace != service.namespace:
            return False
    return severe_enough(alert.severity, rule.min_severity)


def channels(connection: Connection, rules: list[RoutingRule], alert: Alert) -> list[str]:
    """The channels of ``connection`` for ``alert`` (see ``RoutingRule``); [] when silenced or not severe enough."""
    integration = registry.get(connection.integration)
    # an outgoing webhook has no channels: its one destination is its URL
    has_channels = getattr(integration, "target_field", "") == "channel"
    default = str(connection.config.get("channel", "")) if has_channels else ""
    hits = [r for r in rules if matches(r, alert)]
    if any(r.silence for r in hits):
        return []
    if not hits:
        return [default] if alert.severity in DEFAULT_SEVERITIES else []
    return sorted({r.channel or default for r in hits})


def routes(alert: Alert) -> list[Route]:
    """Every (connection, channel) that announces ``alert``."""
    connections = list(Connection.objects.filter(integration__in=push_slugs(), enabled=True))
    if not connections:
        return []
    rules: dict[object, list[RoutingRule]] = {}
    for rule in RoutingRule.objects.filter(connection__in=connections):
        rules.setdefault(rule.connection_id, []).append(rule)
    return [Route(c, ch) for c in connections for ch in channels(c, rules.get(c.pk, []), alert)]
