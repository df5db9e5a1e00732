"""Grafana-managed alerting (Grafana 10–12): the webhook contact point's ``version: "1"`` body.

https://grafana.com/docs/grafana/latest/alerting/configure-notifications/manage-contact-points/integrations/webhook-notifier/:
the body is Alertmanager's group (``alerts`` with ``status``, ``labels``, ``annotations``, ``startsAt``,
``endsAt``, ``fingerprint``, ``generatorURL``) plus Grafana's own fields: ``orgId``, and on each alert
``silenceURL``, ``dashboardURL``, ``panelURL``, ``values`` (query ref ID → value), ``valueString``,
``imageURL`` and, when the rule has one, ``ruleUID``. Parsing is Alertmanager's (same alert identity, the zero
``endsAt``, one bad alert never drops its siblings); Grafana's fields are kept on the alert. Authentication is
the contact point's Authorization header (scheme + credentials) or HTTP Basic auth.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from integrations.alertmanager import AlertmanagerIntegration, alert_record, parse_alerts, versioned_status
from integrations.base import AlertRecord, Record

#: the rule's UID in its generatorURL: /alerting/grafana/<uid>/view (Grafana 10+), /alerting/<uid>/edit (older)
_RULE_UID = re.compile(r"/alerting/(?:grafana/)?(?P<uid>[A-Za-z0-9_-]{1,40})/(?:view|edit)\b")
GRAFANA_FIELDS = ("silenceURL", "dashboardURL", "panelURL", "imageURL", "valueString")


def rule_uid(alert: Mapping[str, Any]) -> str:
    uid = alert.get("ruleUID")
    if isinstance(uid, str) and uid:
        return uid[:40]
    match = _RULE_UID.search(str(alert.get("generatorURL") or ""))
    return match.group("uid") if match else ""


def _values(alert: Mapping[str, Any]) -> dict[str, float]:
    """``values``: query ref ID → number (``null`` when the rule has none)."""
    raw = alert.get("values")
    if not isinstance(raw, Mapping):
        return {}
    return {
        str(k)[:64]: v for k, v in list(raw.items())[:50] if isinstance(v, (int, float)) and not isinstance(v, bool)
    }


def grafana_alert(alert: Any, group: Mapping[str, Any]) -> AlertRecord:
    record = alert_record(alert, group, source="grafana")
    grafana = {name: str(alert.get(name) or "")[:2000] for name in GRAFANA_FIELDS if alert.get(name)}
    org_id = alert.get("orgId", group.get("orgId"))
    links = list(record.links)
    for name, text in (("dashboardURL", "Grafana dashboard"), ("panelURL", "Grafana panel")):
        if grafana.get(name):
            links.append({"href": grafana[name], "text": text})
    return replace(
        record,
        details={
            **record.details,
            **grafana,
            "org_id": org_id if isinstance(org_id, int) and not isinstance(org_id, bool) else None,
            "rule_uid": rule_uid(alert),
            "values": _values(alert),
        },
        links=tuple(links),
    )


def parse_grafana_group(payload: Any, config: Mapping[str, Any]) -> list[Record]:
    """Each alert of a Grafana notification, firing or resolved alike."""
    return parse_alerts(payload, grafana_alert)


class GrafanaIntegration(AlertmanagerIntegration):
    """Alertmanager's authentication and settings; Grafana's body version and fields."""

    slug = "grafana"
    label = "Grafana Alerting"
    parsers = {"firing": parse_grafana_group, "resolved": parse_grafana_group}
    setup_instructions = (
        "In Grafana (10 to 12): Alerting → Contact points → Add contact point. Integration: Webhook. URL: this "
        "connection's webhook URL. HTTP method: POST. Under Optional Webhook settings set Authorization Header "
        "Scheme 'Bearer' and Authorization Header Credentials <the secret shown once> (or HTTP Basic Authentication "
        "with the secret as password). Leave Title, Message and Custom Payload empty: a template replaces the body "
        "we read. Keep 'Disable resolved message' off so alerts resolve here. Route alerts to the contact point in "
        "a notification policy (with 'Continue matching' to keep your other contact points). Label rules with "
        "service (or app), namespace and cluster so alerts map to services; alerts that map to nothing are kept "
        "as unmapped."
    )

    def event_type(self, headers: Mapping[str, str], payload: Any) -> str:
        """The notification's status for Grafana's version "1" body; other versions are a format we do not know."""
        return versioned_status(payload, "1")
