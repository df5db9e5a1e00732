"""Links out: every change and alert to where it came from, built from what its source sent.

A source's own links (a Jenkins build, an Argo CD application, a LaunchDarkly flag, a Datadog event, Alertmanager's
generatorURL, a PagerDuty incident) come first. A commit or a pull request is linked on the Git host its source named
in a URL (a GitHub Enterprise push carries ``https://ghe.example.com/acme/api/commit/…``; a Jenkins build its SCM
URL; Argo CD its ``repoURL``); failing that, on the host of a GitHub connection's ``api_url``; failing that,
github.com. Nothing here is fetched: every URL is made from stored fields and passes ``safe_url``.

Also here: "reverts / reverted by" between a change and the one that undid it (a flag turned on and off, a deploy
and its rollback), found by their diffs: B reverts A when B puts back, on the same service, what A changed.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import quote, urlsplit

from changetrack.models import Alert, Change, Connection
from changetrack.web.details import links as source_links
from changetrack.web.details import safe_url
from integrations import registry

DEFAULT_GIT_HOST = "https://github.com"
_PR = re.compile(r"(?:\(#|pull request #|\bPR #)(\d{1,7})\b", re.IGNORECASE)
_API_V3 = re.compile(r"/api/v3/?$")
REVERT_WINDOW = timedelta(days=7)
REVERT_CANDIDATES = 200
#: kinds that undo one another
_FAMILIES = ({"deploy", "rollback"}, {"feature_flag"}, {"config", "secret"}, {"scale", "autoscale"})


@dataclass(frozen=True)
class Link:
    url: str
    title: str
    kind: str  # commit, pr, build, app, flag, alert, monitor, incident, link


#: sources that are not webhook integrations: the in-cluster collector and the REST API
_OTHER_SOURCES = {"kubernetes": "Kubernetes", "api": "the API"}


def source_label(slug: str) -> str:
    """``datadog`` → ``Datadog``: the installed integration's own label, else the slug as sent."""
    integration = registry.get(slug)
    return integration.label if integration is not None else _OTHER_SOURCES.get(slug, slug)


def _strings(value: Any) -> Iterator[str]:
    """Every string anywhere in a stored payload (links, details, commits…), depth- and length-limited."""
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, str):
            yield item
        elif depth < 5 and isinstance(item, dict):
            stack.extend((v, depth + 1) for v in item.values())
        elif depth < 5 and isinstance(item, list):
            stack.extend((v, depth + 1) for v in item[:200])


_SCP = re.compile(r"^[\w.-]+@(?P<host>[\w.-]+):(?P<path>[^/].*)$")  # git@ghe.example.com:acme/api.git


def _web_base(text: str, wanted: str) -> str:
    """``https://host`` when ``text`` is a URL (or an scp-style Git address) of the repository path ``wanted``."""
    match = _SCP.match(text)
    if match:
        path, base = "/" + match.group("path"), f"https://{match.group('host')}"
    elif text.startswith(("http://", "https://")) and safe_url(text):
        parts = urlsplit(text)
        path, base = parts.path, f"{parts.scheme}://{parts.netloc}"
    else:
        return ""
    path = path.lower().removesuffix(".git")
    return base if path == wanted or path.startswith(wanted + "/") else ""


def git_host(repository: str, sent: Iterable[Any], configured: str = "") -> str:
    """The web base (``https://ghe.example.com``) of ``repository`` (``acme/api``): the scheme and host of the first
    URL the source sent whose path starts with the repository, else ``configured`` (a GitHub connection's API URL,
    ``https://HOST/api/v3`` for GitHub Enterprise), else github.com."""
    wanted = "/" + repository.strip("/").lower()
    for value in sent:
        for text in _strings(value):
            if base := _web_base(text, wanted):
                return base
    if configured:
        parts = urlsplit(configured)
        if parts.scheme in {"http", "https"} and parts.netloc and parts.netloc != "api.github.com":
            return f"{parts.scheme}://{parts.netloc}{_API_V3.sub('', parts.path).rstrip('/')}"
    return DEFAULT_GIT_HOST


def configured_git_api() -> str:
    """The ``api_url`` of the first GitHub connection that sets one (GitHub Enterprise), or ''."""
    for config in Connection.objects.filter(integration="github").values_list("config", flat=True)[:20]:
        if isinstance(config, dict) and isinstance(config.get("api_url"), str) and config["api_url"].strip():
            return str(config["api_url"]).strip()
    return ""


def pull_number(change: Change) -> int | None:
    details = change.details if isinstance(change.details, dict) else {}
    for key in ("pull_request", "pr", "number"):
        value = details.get(key)
        if isinstance(value, dict):
            value = value.get("number")
        if isinstance(value, int) and not isinstance(value, bool) and change.source == "github":
            return value
    match = _PR.search(change.summary)
    return int(match.group(1)) if match else None


def change_links(change: Change, configured_api: str = "") -> list[Link]:
    """The change's links out: its source's own, then its commit and pull request on their Git host."""
    own = source_links(change.links, change.details, change.source)
    out = [Link(item["url"], item["title"], _kind(item, change.source)) for item in own]
    seen = {link.url for link in out}
    repository = change.repository or (change.service.repository if change.service_id and change.service else "")
    if repository and "/" in repository:
        base = git_host(repository, [change.links, change.details], configured_api)
        repo = quote(repository.strip("/"), safe="/")
        made = []
        if change.commit_sha:
            sha = quote(change.commit_sha)
            made.append(Link(f"{base}/{repo}/commit/{sha}", f"{repository}@{change.commit_sha[:7]}", "commit"))
        number = pull_number(change)
        if number is not None:
            made.append(Link(f"{base}/{repo}/pull/{number}", f"PR #{number}", "pr"))
        out += [link for link in made if safe_url(link.url) and link.url not in seen]
    return out


def _kind(item: dict[str, str], source: str) -> str:
    if item.get("tag") == "argocd":
        return "app"
    if item.get("tag") == "ci":
        return "build"
    return "flag" if source == "launchdarkly" else "link"


def alert_links(alert: Alert) -> list[Link]:
    """Where the alert lives at its source: the URL it sent (Datadog's event, Alertmanager's generatorURL,
    PagerDuty's incident), the monitor or alert page its ids name, then any other link it sent."""
    details = alert.details if isinstance(alert.details, dict) else {}
    label = source_label(alert.source)
    out: list[Link] = []
    primary = safe_url(alert.url)
    if primary:
        title = {"alertmanager": "Prometheus graph", "pagerduty": "PagerDuty incident"}.get(alert.source)
        out.append(Link(primary, title or f"Open in {label}", "alert"))
    if alert.source == "datadog" and str(details.get("monitor_id") or "").isdigit():
        host = urlsplit(primary).netloc if primary else ""
        site = host if host.endswith(("datadoghq.com", "datadoghq.eu", "ddog-gov.com")) else "app.datadoghq.com"
        out.append(Link(f"https://{site}/monitors/{details['monitor_id']}", "Datadog monitor", "monitor"))
    if alert.source == "alertmanager" and (external := safe_url(details.get("external_url"))):
        out.append(Link(f"{external.rstrip('/')}/#/alerts", "Alertmanager", "alert"))
    if alert.source == "opsgenie" and (alert_id := str(details.get("alert_id") or "")):
        out.append(Link(f"https://app.opsgenie.com/alert/detail/{quote(alert_id)}/details", "Opsgenie alert", "alert"))
    seen = {link.url for link in out}
    for item in source_links(alert.links, details, alert.source):
        if item["url"] not in seen:
            seen.add(item["url"])
            out.append(Link(item["url"], item["title"], "link"))
    return out


def _diff(change: Change) -> dict[str, tuple[Any, Any]]:
    return {
        str(d["path"]): (d.get("before"), d.get("after"))
        for d in (change.diff if isinstance(change.diff, list) else [])
        if isinstance(d, dict) and d.get("path") and not d.get("redacted")
    }


def undoes(later: Change, earlier: Change) -> bool:
    """``later`` puts back what ``earlier`` changed: on a path both changed, ``later`` goes from ``earlier``'s
    "after" to its "before", and no path they share says otherwise. A flag must be the same flag."""
    if _flag(later) != _flag(earlier):
        return False
    a, b = _diff(earlier), _diff(later)
    shared = [p for p in set(a) & set(b) if a[p][0] != a[p][1]]
    return bool(shared) and all(b[p] == (a[p][1], a[p][0]) for p in shared)


def _flag(change: Change) -> str:
    details = change.details if isinstance(change.details, dict) else {}
    return str(details.get("flag") or "") if change.kind == "feature_flag" else ""


def reverts(change: Change) -> tuple[Change | None, Change | None]:
    """(the change this one reverts, the change that reverted this one), each the nearest in time, or None."""
    family = next((f for f in _FAMILIES if change.kind in f), None)
    if family is None or change.service_id is None or not _diff(change):
        return None, None
    candidates = list(
        Change.objects.filter(
            service_id=change.service_id,
            kind__in=family,
            occurred_at__gte=change.occurred_at - REVERT_WINDOW,
            occurred_at__lte=change.occurred_at + REVERT_WINDOW,
        )
        .exclude(pk=change.pk)
        .only("id", "kind", "summary", "occurred_at", "diff", "details", "source", "service_id")
        .order_by("occurred_at", "id")[:REVERT_CANDIDATES]
    )
    earlier = [c for c in candidates if (c.occurred_at, c.pk) < (change.occurred_at, change.pk)]
    later = [c for c in candidates if (c.occurred_at, c.pk) > (change.occurred_at, change.pk)]
    undone = next((c for c in reversed(earlier) if undoes(change, c)), None)
    undone_by = next((c for c in later if undoes(c, change)), None)
    return undone, undone_by
