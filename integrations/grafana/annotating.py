"""Changes as Grafana annotations (the push side of Grafana; the pull side is ``GET /api/v1/grafana/annotations``).

Each new change becomes an organization annotation (``POST /api/annotations``, or a dashboard's with a dashboard
UID) tagged ``changetrack``, ``service:<name>``, ``kind:<kind>``, ``cluster:<name>`` (and namespace, team,
source, the connection's extra tags), with ``timeEnd`` for ranged changes; Grafana answers its id, which
``changetrack.notify`` keeps so an update of the change edits the same annotation (``PATCH
/api/annotations/{id}``). A service-account token with the ``annotations:create`` and ``annotations:write``
permissions (the Editor role has both) is sent as a Bearer token.
Docs: https://grafana.com/docs/grafana/latest/developers/http_api/annotations/
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from typing import Any

from integrations.base import ConfigField
from integrations.destination import ChangeNotice, Destination


def listed(config: Mapping[str, Any], name: str) -> list[str]:
    """A comma-separated config field as a list of non-empty, stripped items."""
    return [item.strip() for item in str(config.get(name) or "").split(",") if item.strip()]


def wanted(notice: ChangeNotice, config: Mapping[str, Any]) -> bool:
    """Whether the connection annotates this change: its kind among ``kinds`` and its service among
    ``services`` (each a name, namespace/name or cluster/namespace/name), where those are set."""
    kinds = listed(config, "kinds")
    if kinds and notice.kind not in kinds:
        return False
    services = listed(config, "services")
    if not services:
        return True
    paths = {
        notice.service,
        f"{notice.namespace}/{notice.service}",
        f"{notice.cluster}/{notice.namespace}/{notice.service}",
    }
    return bool(notice.service) and any(s in paths for s in services)


def text(notice: ChangeNotice) -> str:
    """The annotation's text: the summary and a link back to the change (Grafana renders a sanitised subset of
    HTML in the annotation tooltip)."""
    return f'{html.escape(notice.summary)} <a href="{html.escape(notice.url)}">Open in changetrack</a>'


def epoch_ms(notice: ChangeNotice) -> tuple[int, int]:
    """(time, timeEnd) in epoch milliseconds; a change without an end is a point (timeEnd = time)."""
    start = int(notice.started_at.timestamp() * 1000)
    end = int(notice.ended_at.timestamp() * 1000) if notice.ended_at else start
    return start, max(start, end)


def body(notice: ChangeNotice, config: Mapping[str, Any]) -> dict[str, Any]:
    """The body of ``POST /api/annotations`` and of ``PATCH /api/annotations/{id}`` (which takes the same
    fields): ``time``, ``timeEnd``, ``tags`` (ours, then the connection's ``extra_tags``), ``text`` and, when
    the connection names one, ``dashboardUID``."""
    start, end = epoch_ms(notice)
    tags = list(dict.fromkeys([*notice.tags(), *listed(config, "extra_tags")]))
    out: dict[str, Any] = {"time": start, "timeEnd": end, "tags": tags, "text": text(notice)}
    if config.get("dashboard_uid"):
        out["dashboardUID"] = str(config["dashboard_uid"]).strip()
    return out


class GrafanaAnnotationsIntegration(Destination):
    slug = "grafana-annotations"
    label = "Grafana annotations"
    target_field = "url"
    notices = False
    url_label = ""
    config_fields = (
        ConfigField("url", "Grafana URL", required=True, help="e.g. https://grafana.example.com"),
        ConfigField(
            "token",
            "Service account token",
            secret=True,
            required=True,
            help="A service-account token with annotations:create and annotations:write (the Editor role).",
        ),
        ConfigField(
            "dashboard_uid", "Dashboard UID", help="Optional: annotate one dashboard instead of the organization."
        ),
        ConfigField("extra_tags", "Extra tags", help="Optional, comma-separated: added to every annotation."),
        ConfigField("kinds", "Kinds", help="Optional, comma-separated change kinds (e.g. deploy,config): only these."),
        ConfigField(
            "services",
            "Services",
            help="Optional, comma-separated names, namespace/name or cluster/namespace/name: only their changes.",
        ),
    )
    setup_instructions = (
        "In Grafana: Administration → Users and access → Service accounts → Add service account with the Editor "
        "role, then Add service account token; paste it here with Grafana's URL. Each new change becomes an "
        "organization annotation tagged changetrack, service:<name>, kind:<kind> and cluster:<name>, edited in "
        "place when the change is updated. On a dashboard: Dashboard settings → Annotations → New query, data "
        "source '-- Grafana --', Filter by Tags, tags e.g. changetrack and service:checkout."
    )
