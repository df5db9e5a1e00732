"""Datadog webhook bodies that do not follow our payload template, read into the template's fields.

Datadog's Webhooks integration posts whatever the "Payload" field says, with ``$VARIABLES`` substituted
(https://docs.datadoghq.com/integrations/webhooks/#usage). Teams already have webhooks with Datadog's default
payload (``body``/``last_updated``/``event_type``/``title``/``date``/``org``/``id``) or with the ``$ALERT_*``
variables under their own names, and Datadog does not retry a 4xx, so a refused body is lost. ``normalise``
maps the common names onto our template's keys; what it cannot find it derives:

- the transition from ``$ALERT_TRANSITION`` under any common name, else the title's ``[Triggered on …]``
  prefix, else ``$ALERT_TYPE`` (``success`` is a recovery);
- the scope (the group that fired) from ``$ALERT_SCOPE``, else the title's ``on {…}``;
- the alert's identity from ``$ALERT_CYCLE_KEY``, else the monitor (``$ALERT_ID``) and scope, else the
  title and scope — without a cycle key a new cycle re-opens the same alert instead of making a new one
  (``details.identity`` says which was used).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from typing import Any

from integrations.base import ParseError

#: "[P2] [Triggered on {service:checkout}] p99 latency": the transition, the scope, then the stable title
TITLE_PREFIX = re.compile(
    r"^\s*\[(?:P[1-5]\]\s*\[)?(?P<transition>Triggered|Re-Triggered|Recovered|Warn|Re-Warn|No Data|Re-No Data|"
    r"Renotify)(?: on (?P<scope>[^\]]*))?\]\s*"
)
TRANSITIONS = ("Triggered", "Re-Triggered", "Recovered", "Warn", "Re-Warn", "No Data", "Re-No Data", "Renotify")
_BY_LOWER = {t.lower(): t for t in TRANSITIONS}
#: $ALERT_TYPE when no transition is sent
_ALERT_TYPE_TRANSITION = {"error": "Triggered", "warning": "Warn", "success": "Recovered"}

#: our template key → the names teams give the same variable, in order of preference
ALIASES: dict[str, tuple[str, ...]] = {
    "id": ("id", "event_id"),
    "date": ("date", "last_updated", "timestamp", "date_posix", "event_date"),
    "title": ("title", "event_title", "alert_title"),
    "monitor_id": ("monitor_id", "alert_id"),
    "cycle_key": ("cycle_key", "alert_cycle_key"),
    "aggreg_key": ("aggreg_key", "aggregation_key"),
    "priority": ("priority", "alert_priority"),
    "alert_type": ("alert_type",),
    "scope": ("scope", "alert_scope", "scopes"),
    "status": ("status", "alert_status", "body", "event_msg", "text"),
    "tags": ("tags",),
    "link": ("link", "url", "event_url"),
}
#: where a transition may be found (``status``/``event_type`` only when they hold a transition's name)
_TRANSITION_KEYS = ("transition", "alert_transition", "event_type", "alert_status", "status")


def text(value: Any, key: str) -> str:
    """A substituted variable: text, or a number when the template left it unquoted; tags may be a list."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    if key == "tags" and isinstance(value, list) and all(isinstance(t, str) for t in value):
        return ",".join(value)
    raise ParseError(f"field {key!r} must be text (a Datadog variable), not {type(value).__name__}")


def _first(payload: Mapping[str, Any], names: tuple[str, ...], key: str) -> str:
    for name in names:
        if name in payload:
            value = text(payload[name], key)
            if value and not value.startswith("$"):  # "$ALERT_CYCLE_KEY" left as is: the variable is unknown
                return value
    return ""


def _transition(payload: Mapping[str, Any], title: str, alert_type: str) -> str:
    if isinstance(payload.get("transition"), str) and payload["transition"].strip():
        return payload["transition"].strip()  # our template: kept as sent (``Null`` is ignored, not guessed)
    for name in _TRANSITION_KEYS[1:]:
        value = payload.get(name)
        if isinstance(value, str) and value.strip().lower() in _BY_LOWER:
            return _BY_LOWER[value.strip().lower()]
    match = TITLE_PREFIX.match(title)
    if match:
        return match.group("transition")
    return _ALERT_TYPE_TRANSITION.get(alert_type.lower(), "")


def normalise(payload: Any) -> dict[str, Any]:
    """``payload`` with our template's keys filled from the names Datadog's default payload and common
    templates use. Raises ``ParseError`` for a body that is not an object or has a field of the wrong type."""
    if not isinstance(payload, Mapping):
        raise ParseError("body must be a JSON object")
    out: dict[str, Any] = {key: _first(payload, names, key) for key, names in ALIASES.items()}
    match = TITLE_PREFIX.match(out["title"])
    if not out["scope"] and match and match.group("scope"):
        out["scope"] = match.group("scope").strip().strip("{}")
    out["transition"] = _transition(payload, out["title"], out["alert_type"])
    out["org"] = payload.get("org") if isinstance(payload.get("org"), Mapping) else {}
    out["identity"] = "cycle_key"
    if not out["cycle_key"]:
        stable = TITLE_PREFIX.sub("", out["title"])
        if out["monitor_id"]:
            basis, out["identity"] = f"monitor:{out['monitor_id']}|{out['scope']}", "monitor_and_scope"
        elif stable:
            basis, out["identity"] = f"title:{stable}|{out['scope']}", "title_and_scope"
        else:
            raise ParseError("field 'cycle_key' is missing and there is no monitor id or title to derive it from")
        out["cycle_key"] = "derived:" + hashlib.sha256(basis.encode()).hexdigest()[:32]
    return out
