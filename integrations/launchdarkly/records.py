"""LaunchDarkly audit-log entries → feature-flag changes with a before/after diff.

The same entry arrives by webhook and by ``GET /api/v2/auditlog/{id}``, so one parser serves both and ``_id`` is
the ``external_id``. Docs: https://launchdarkly.com/docs/api/audit-log/get-audit-log-entries
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from integrations.base import ChangeRecord, ParseError, ServiceHint, parse_time, require, require_str

SOURCE = "launchdarkly"
#: per-environment flag settings worth a diff line, in the order shown
ENV_FIELDS = ("on", "offVariation", "fallthrough", "rules", "targets", "contextTargets", "prerequisites")
#: flag-wide settings (an entry without an environment, e.g. updateName, updateTags)
FLAG_FIELDS = ("name", "tags", "variations", "archived", "temporary")
#: actions that turn a flag off or roll it back tend to be responses, the others risks
RISKY_ACTIONS = {
    "updateOn",
    "updateFallthrough",
    "updateRules",
    "updateTargets",
    "updateOffVariation",
    "updatePrerequisites",
    "updateFlagVariations",
    "copyFlagConfigFrom",
}


def _mapping(value: Any) -> Mapping[str, Any]:
    """Flag versions are informational (the diff): a part of the wrong type reads as absent, not as a crash."""
    return value if isinstance(value, Mapping) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def parse_resource(resource: str) -> dict[str, str]:
    """``proj/web-store:env/production:flag/new-checkout`` → {proj: web-store, env: production, flag: new-checkout}.
    A segment may carry a tag list after ``;`` (``flag/key;tag1,tag2``), which is dropped."""
    out: dict[str, str] = {}
    for segment in resource.split(":"):
        kind, _, value = segment.partition("/")
        if kind and value:
            out[kind] = value.split(";", 1)[0]
    return out


def _variation_names(flag: Mapping[str, Any]) -> list[str]:
    names: list[str] = []
    for i, v in enumerate(_list(flag.get("variations"))):
        label = v.get("name") if isinstance(v, Mapping) else None
        names.append(str(label) if label else (repr(v.get("value")) if isinstance(v, Mapping) else str(i)))
    return names


def _readable(value: Any, names: list[str]) -> Any:
    """Rollout weights (0–100000) → percentages by variation name, so "10% → 50%" is what the diff shows."""
    if isinstance(value, Mapping):
        out = {
            k: _readable(v, names)
            for k, v in value.items()
            if k not in {"_id", "version", "salt", "sel", "trackEvents"}
        }
        rollout = value.get("rollout")
        if isinstance(rollout, Mapping) and isinstance(rollout.get("variations"), list):
            pct: dict[str, float] = {}
            for item in rollout["variations"]:
                if isinstance(item, Mapping) and isinstance(item.get("variation"), int):
                    index = item["variation"]
                    name = names[index] if 0 <= index < len(names) else str(index)
                    weight = item.get("weight")
                    if isinstance(weight, bool) or not isinstance(weight, (int, float)):
                        weight = 0
                    pct[name] = round(float(weight) / 1000, 3)
            out["rollout"] = {
                "percentages": pct,
                **({"bucketBy": rollout["bucketBy"]} if rollout.get("bucketBy") else {}),
            }
        return out
    if isinstance(value, list):
        return [_readable(v, names) for v in value]
    return value


def flag_diff(before: Any, after: Any, env: str) -> list[dict[str, Any]]:
    """Paths that differ between the two flag versions, for ``env`` (or flag-wide when env is empty)."""
    before, after = _mapping(before), _mapping(after)
    names = _variation_names(after) or _variation_names(before)
    diff: list[dict[str, Any]] = []
    if env:
        b_env = _mapping(_mapping(before.get("environments")).get(env))
        a_env = _mapping(_mapping(after.get("environments")).get(env))
        for name in ENV_FIELDS:
            b, a = b_env.get(name), a_env.get(name)
            if b != a:
                diff.append(
                    {"path": f"environments.{env}.{name}", "before": _readable(b, names), "after": _readable(a, names)}
                )
    for name in FLAG_FIELDS:
        b, a = before.get(name), after.get(name)
        if b != a and (before or after):
            diff.append({"path": name, "before": b, "after": a})
    return diff


def actor(entry: Mapping[str, Any]) -> str:
    """The member's email, else the API token or OAuth app that made the change."""
    member = entry.get("member")
    if isinstance(member, Mapping) and member.get("email"):
        return str(member["email"])
    token = entry.get("token")
    if isinstance(token, Mapping) and token.get("name"):
        return f"token:{token['name']}"
    app = entry.get("app")
    if isinstance(app, Mapping) and app.get("name"):
        return f"app:{app['name']}"
    return ""


def flag_change(entry: Any) -> ChangeRecord:
    """One flag entry → one ``feature_flag`` change. Raises ``ParseError`` on a malformed entry."""
    entry_id = require_str(entry, "_id")
    accesses = require(entry, "accesses")
    if not isinstance(accesses, list) or not accesses:
        raise ParseError("field 'accesses' must be a non-empty list")
    resource = parse_resource(require_str(accesses, 0, "resource"))
    flag_key = resource.get("flag") or ""
    if not flag_key:
        raise ParseError("accesses[0].resource names no flag")
    env = resource.get("env", "")
    env = "" if env == "*" else env
    action = require_str(accesses, 0, "action")
    current = entry.get("currentVersion")
    previous = entry.get("previousVersion")
    tags = [t for t in _list(_mapping(current or previous).get("tags")) if isinstance(t, str) and t]
    keys = (("flag", flag_key), *(("flag_tag", t) for t in tags))
    verb = str(entry.get("titleVerb") or entry.get("shortDescription") or action)
    who = actor(entry)
    summary = f"{who or 'Someone'} {verb} {flag_key}" + (f" in {env}" if env else "")
    links = []
    site = (entry.get("_links") or {}).get("site") if isinstance(entry.get("_links"), Mapping) else None
    if isinstance(site, Mapping) and site.get("href"):
        links.append({"title": "Flag in LaunchDarkly", "url": "https://app.launchdarkly.com" + str(site["href"])})
    return ChangeRecord(
        source=SOURCE,
        external_id=entry_id,
        kind="feature_flag",
        occurred_at=parse_time(require(entry, "date"), "date"),
        summary=summary[:1024],
        service=ServiceHint(name=_tagged_service(tags), env=env, keys=keys),
        actor=who,
        severity="warning" if action in RISKY_ACTIONS and env else "info",
        status="succeeded",
        details={
            "flag": flag_key,
            "flag_name": str(entry.get("name") or ""),
            "project": resource.get("proj", ""),
            "environment": env,
            "actions": [str(a.get("action")) for a in accesses if isinstance(a, Mapping)],
            "comment": str(entry.get("comment") or "")[:1000],
            "tags": tags,
            "versions_included": previous is not None or current is not None,
        },
        diff=tuple(flag_diff(previous, current, env)),
        links=tuple(links),
    )


def _tagged_service(tags: list[str]) -> str:
    """The service a ``service:<name>`` flag tag names (the convention Datadog tags use too); otherwise none and
    the flag maps only through an alias on its ``flag`` or ``flag_tag`` keys."""
    named = [t.split(":", 1)[1].strip() for t in tags if t.lower().startswith("service:")]
    return named[0] if len(named) == 1 else ""
