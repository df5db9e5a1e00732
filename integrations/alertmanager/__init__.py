"""Prometheus Alertmanager webhook (payload ``version: "4"``), one alert record per alert of the group.

https://prometheus.io/docs/alerting/latest/configuration/#webhook_config: no signature; the only
authentication is ``http_config`` (Basic auth or an ``Authorization`` bearer credential), checked here against
the connection's hashed secret. The whole group is re-sent on every ``group_interval`` change and
``repeat_interval``: an identical body is a duplicate delivery (body hash), and a changed group is parsed
again — each alert instance (``fingerprint`` + ``startsAt``) is one Alert, and its firing/resolved events carry
an ``event_id`` so re-sent events never move or count anything twice.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import datetime
from typing import Any

from integrations.base import (
    AlertRecord,
    ConfigField,
    Integration,
    ParseError,
    Record,
    ServiceHint,
    parse_time,
    require,
    require_str,
)
from integrations.shared_secret import check_shared_secret

SEVERITY = {
    "critical": "critical",
    "page": "critical",
    "fatal": "critical",
    "error": "error",
    "high": "error",
    "major": "error",
    "warning": "warning",
    "warn": "warning",
    "minor": "warning",
    "info": "info",
    "low": "info",
    "none": "info",
}
#: Deployment pods are <deployment>-<replicaset hash>-<5 chars>; the deployment name is the service
_DEPLOYMENT_POD = re.compile(r"^(?P<name>[a-z0-9][a-z0-9-]*?)-[a-z0-9]{5,10}-[a-z0-9]{5}$")


def _labels(alert: Mapping[str, Any], key: str) -> dict[str, str]:
    value = require(alert, key)
    if not isinstance(value, Mapping):
        raise ParseError(f"field {key!r} of an alert must be an object")
    return {str(k): str(v) for k, v in value.items()}


def service_name(labels: Mapping[str, str]) -> str:
    """The most specific workload label; then a deployment pod's name; then the scrape job."""
    for key in (
        "service",
        "app_kubernetes_io_name",
        "app.kubernetes.io/name",
        "app",
        "deployment",
        "statefulset",
        "daemonset",
    ):
        if labels.get(key):
            return labels[key]
    match = _DEPLOYMENT_POD.match(labels.get("pod", ""))
    if match:
        return match.group("name")
    return labels.get("job", "")


def service_hint(labels: Mapping[str, str]) -> ServiceHint:
    keys = [(f"prometheus_{k}", labels[k]) for k in ("job", "service", "app") if labels.get(k)]
    return ServiceHint(
        name=service_name(labels),
        namespace=labels.get("namespace", ""),
        cluster=labels.get("cluster", ""),
        env=labels.get("env", "") or labels.get("environment", ""),
        keys=tuple(keys),
    )


#: Go's zero ``time.Time``: what Alertmanager sends as ``endsAt`` when the end is unknown
ZERO_TIME = "0001-01-01T00:00:00Z"
_FNV64_OFFSET, _FNV64_PRIME = 14695981039346656037, 1099511628211


def label_fingerprint(labels: Mapping[str, str]) -> str:
    """Alertmanager's own fingerprint of a label set (prometheus/common ``model.LabelSet.Fingerprint``:
    FNV-1a 64 over the sorted names and values, each followed by the 0xff separator), for payloads without one
    (older Alertmanager, forks): the same alert gets the same identity whoever computes it."""
    digest = _FNV64_OFFSET
    for name in sorted(labels):
        for part in (name, labels[name]):
            for byte in part.encode() + b"\xff":
                digest = ((digest ^ byte) * _FNV64_PRIME) % (1 << 64)
    return f"{digest:016x}"


def _ends_at(alert: Mapping[str, Any]) -> datetime | None:
    value = alert.get("endsAt")
    if value is None or (isinstance(value, str) and value.strip() in {"", ZERO_TIME}):
        return None
    return parse_time(value, "alerts.endsAt")


def alert_record(alert: Any, group: Mapping[str, Any], source: str = "alertmanager") -> AlertRecord:
    """One alert of a group (Alertmanager's or Grafana's, which shares its shape) as an alert event."""
    if not isinstance(alert, Mapping):
        raise ParseError("every item of 'alerts' must be an object")
    labels = _labels(alert, "labels")
    annotations = _labels(alert, "annotations") if "annotations" in alert else {}
    status = require_str(alert, "status")
    if status not in {"firing", "resolved"}:
        raise ParseError(f"alert status must be firing or resolved, not {status[:32]!r}")
    fingerprint = alert.get("fingerprint") or label_fingerprint(labels)
    if not isinstance(fingerprint, str):
        raise ParseError("field 'fingerprint' must be a string")
    starts = parse_time(require(alert, "startsAt"), "alerts.startsAt")
    occurred: datetime = starts
    if status == "resolved":
        ends = _ends_at(alert)  # unknown end: the alert resolved no earlier than it started
        occurred = max(ends, starts) if ends else starts
    external_id = f"{fingerprint}:{starts.isoformat()}"
    generator = str(alert.get("generatorURL") or "")
    title = annotations.get("summary") or labels.get("alertname") or fingerprint
    return AlertRecord(
        source=source,
        external_id=external_id,
        title=title[:1024],
        status="triggered" if status == "firing" else "resolved",
        occurred_at=occurred,
        service=service_hint(labels),
        severity=SEVERITY.get(labels.get("severity", "").lower(), "error"),
        started_at=starts,
        event_id=f"{external_id}:{status}",
        labels=labels,
        details={
            "annotations": annotations,
            "group_key": str(group.get("groupKey") or ""),
            "receiver": str(group.get("receiver") or ""),
            "external_url": str(group.get("externalURL") or ""),
            "truncated_alerts": group.get("truncatedAlerts") or 0,
        },
        links=({"href": generator, "text": "Prometheus"},) if generator else (),
        url=generator,
    )


def parse_group(payload: Any, config: Mapping[str, Any]) -> list[Record]:
    """Firing and resolved groups alike: each alert carries its own status."""
    return parse_alerts(payload, alert_record)


def parse_alerts(payload: Any, build: Callable[[Any, Mapping[str, Any]], AlertRecord]) -> list[Record]:
    """``build(alert, group)`` for each alert of the group. An alert we cannot read is skipped so its siblings
    are kept (a 400 would make the sender retry the same group forever); a group with none readable is a
    ``ParseError`` naming the first problem."""
    alerts = require(payload, "alerts")
    if not isinstance(alerts, list):
        raise ParseError("field 'alerts' must be a list")
    records: list[AlertRecord] = []
    problems: list[str] = []
    for index, alert in enumerate(alerts):
        try:
            records.append(build(alert, payload))
        except ParseError as exc:
            problems.append(f"alerts[{index}]: {exc}")
    if problems and not records:
        raise ParseError(problems[0])
    if problems:  # shown on the alerts that were kept, so the skipped ones are not lost without a trace
        records = [replace(r, details={**r.details, "skipped_alerts": problems[:10]}) for r in records]
    return list(records)


def _grafana_group(payload: Any, config: Mapping[str, Any]) -> list[Record]:
    from integrations.grafana import parse_grafana_group  # the Grafana package builds on this one: no import cycle

    return parse_grafana_group(payload, config)


class AlertmanagerIntegration(Integration):
    slug = "alertmanager"
    label = "Prometheus Alertmanager"
    emits = ("alerts",)
    config_fields = (
        ConfigField(
            "token",
            "Password (Basic auth) or bearer credential",
            secret=True,
            hashed=True,
            required=True,
            help="Stored as a hash. Any Basic auth user name is accepted unless one is set below.",
        ),
        ConfigField("basic_username", "Basic auth user name (optional)", secret=True),
    )
    parsers = {
        "firing": parse_group,
        "resolved": parse_group,
        # a Grafana contact point pointed here: read as the Grafana integration reads it (source "grafana")
        "grafana-firing": _grafana_group,
        "grafana-resolved": _grafana_group,
    }
    setup_instructions = (
        "In alertmanager.yml add a receiver and route alerts to it (keep send_resolved: true, the default):\n"
        "receivers:\n"
        "  - name: changetrack\n"
        "    webhook_configs:\n"
        "      - url: <this connection's webhook URL>\n"
        "        send_resolved: true\n"
        "        http_config:\n"
        "          authorization:\n"
        "            credentials: <the secret shown once>\n"
        "(or http_config.basic_auth with password: <the secret>). Route with continue: true to keep your other "
        "receivers. A Grafana webhook contact point may point here too (its alerts are stored as "
        "Grafana's), though a Grafana Alerting connection is the documented way. Label alerts with service (or "
        "app / app.kubernetes.io/name), namespace and cluster so they map to services; alerts that map to nothing are kept as unmapped."
    )

    def verify(self, headers: Mapping[str, str], raw_body: bytes, secrets: Any) -> None:
        check_shared_secret(headers, secrets, username=secrets.get("basic_username") or "")

    def event_type(self, headers: Mapping[str, str], payload: Any) -> str:
        """The group status for version 4 payloads; other versions are a format we do not know."""
        if isinstance(payload, Mapping) and str(payload.get("version")) == "1" and "orgId" in payload:
            return f"grafana-{require_str(payload, 'status')}"  # Grafana-managed alerts (Grafana's contact point)
        return versioned_status(payload, "4")


def versioned_status(payload: Any, version: str) -> str:
    """The group's ``status`` when its body is ``version``, else ``version-<v>`` (a format we do not know)."""
    if not isinstance(payload, Mapping):
        raise ParseError("body must be a JSON object")
    sent = str(require(payload, "version"))
    return require_str(payload, "status") if sent == version else f"version-{sent[:20]}"
