"""Turning a change's free-form ``details``/``links``/``diff`` into what the change page shows.

Sources fill ``details`` in their own shape (and are being written in parallel), so every reader here is
tolerant: a missing or oddly-shaped key gives an empty section, never an error.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

REDACTED_MARKERS = {"<redacted>", "***", "[redacted]", "redacted"}


def safe_url(value: Any) -> str:
    """``value`` if it is an http(s) URL, else "" (a ``javascript:`` link from a payload must not render)."""
    if not isinstance(value, str) or len(value) > 2000:
        return ""
    try:
        scheme = urlsplit(value.strip()).scheme.lower()
    except ValueError:
        return ""
    return value.strip() if scheme in {"http", "https"} else ""


def show(value: Any) -> str:
    """A diff value as text: scalars as they are, structures as compact JSON."""
    if value is None:
        return "—"
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    return json.dumps(value, sort_keys=True, default=str)


@dataclass
class DiffRow:
    path: str
    before: str
    after: str
    redacted: bool
    added: bool
    removed: bool


def diff_rows(diff: Any) -> list[DiffRow]:
    """Rows of the side-by-side diff. A redacted value (a Secret's data) shows as "changed", never a value."""
    rows: list[DiffRow] = []
    for item in diff if isinstance(diff, list) else []:
        if not isinstance(item, dict):
            continue
        redacted = bool(item.get("redacted")) or any(
            isinstance(item.get(k), str) and item[k].strip().lower() in REDACTED_MARKERS for k in ("before", "after")
        )
        before, after = item.get("before"), item.get("after")
        rows.append(
            DiffRow(
                path=str(item.get("path") or item.get("field") or "?"),
                before="" if redacted else show(before),
                after="" if redacted else show(after),
                redacted=redacted,
                added=before is None and after is not None,
                removed=after is None and before is not None,
            )
        )
    return rows


@dataclass
class Commit:
    sha: str
    message: str
    author: str
    url: str
    at: str


def _commit(raw: Any, repository: str, base: str) -> Commit | None:
    if isinstance(raw, str):
        return Commit(sha=raw[:40], message="", author="", url="", at="")
    if not isinstance(raw, dict):
        return None
    sha = str(raw.get("sha") or raw.get("id") or raw.get("hash") or "")
    inner: dict[str, Any] = raw["commit"] if isinstance(raw.get("commit"), dict) else {}  # GitHub's REST shape
    message = raw.get("message") or inner.get("message") or raw.get("title") or ""
    author: Any = raw.get("author") or inner.get("author") or ""
    if isinstance(author, dict):
        author = author.get("login") or author.get("name") or author.get("email") or ""
    url = safe_url(raw.get("html_url") or raw.get("url"))
    if not url and sha and repository and "/" in repository:
        url = f"{base}/{repository}/commit/{sha}"
    inner_author: dict[str, Any] = inner["author"] if isinstance(inner.get("author"), dict) else {}
    at = raw.get("timestamp") or raw.get("date") or inner_author.get("date") or ""
    return Commit(
        sha=sha[:40], message=str(message).split("\n", 1)[0][:300], author=str(author)[:200], url=url, at=str(at or "")
    )


@dataclass
class CommitRange:
    base: str
    head: str
    compare_url: str
    commits: list[Commit]
    total: int | None


def commit_range(details: Any, repository: str, host: str = "https://github.com") -> CommitRange | None:
    """The commits between the previous and the new version, from ``details["commit_range"]`` (a dict with
    from/to or base/head, commits, compare URL) or ``details["commits"]`` (a list), whichever is present. Links
    the source did not send are made on ``host``, the repository's Git host (``sourcelinks.git_host``)."""
    if not isinstance(details, dict):
        return None
    raw = details.get("commit_range")
    rng: dict[str, Any] = raw if isinstance(raw, dict) else {}
    listed = rng.get("commits") if isinstance(rng.get("commits"), list) else details.get("commits")
    commits = [
        c for c in (_commit(x, repository, host) for x in (listed if isinstance(listed, list) else [])[:200]) if c
    ]
    base_sha = str(rng.get("from") or rng.get("base") or rng.get("old") or rng.get("before") or "")
    head = str(rng.get("to") or rng.get("head") or rng.get("new") or rng.get("after") or "")
    if not (commits or base_sha or head):
        return None
    compare = safe_url(rng.get("compare_url") or rng.get("url") or details.get("compare_url"))
    if not compare and base_sha and head and repository and "/" in repository:
        compare = f"{host}/{repository}/compare/{base_sha}...{head}"
    total = rng.get("total") if isinstance(rng.get("total"), int) else None
    return CommitRange(base=base_sha[:40], head=head[:40], compare_url=compare, commits=commits, total=total)


def flag_change(kind: str, details: Any, diff: Any) -> tuple[str, str] | None:
    """A feature flag's state before and after, as pretty JSON, when the source said so."""
    if not isinstance(details, dict):
        return None
    for key in ("flag", "feature_flag"):
        inner = details.get(key)
        if isinstance(inner, dict) and ("before" in inner or "after" in inner):
            return _pretty(inner.get("before")), _pretty(inner.get("after"))
    if "before" in details or "after" in details:
        return _pretty(details.get("before")), _pretty(details.get("after"))
    if "previous" in details or "current" in details:
        return _pretty(details.get("previous")), _pretty(details.get("current"))
    return None


def _pretty(value: Any) -> str:
    if value is None:
        return "—"
    return value if isinstance(value, str) else json.dumps(value, indent=2, sort_keys=True, default=str)


def links(change_links: Any, details: Any, source: str) -> list[dict[str, str]]:
    """Safe links with a label, CI (Jenkins/Actions) and Argo CD ones tagged so the page can show them first."""
    raw = list(change_links) if isinstance(change_links, list) else []
    if isinstance(details, dict) and isinstance(details.get("links"), list):
        raw += details["links"]
    out, seen = [], set()
    for item in raw:
        url = safe_url(item.get("url") or item.get("href")) if isinstance(item, dict) else safe_url(item)
        if not url or url in seen:
            continue
        seen.add(url)
        title = str(item.get("title") or item.get("text") or item.get("name") or url) if isinstance(item, dict) else url
        text = f"{title} {url}".lower()
        tag = (
            "argocd"
            if "argo" in text
            else "ci"
            if any(w in text for w in ("jenkins", "actions", "/runs/", "build", "ci"))
            else ""
        )
        out.append(
            {"url": url, "title": title[:200], "tag": tag or ("ci" if source in {"jenkins", "github_actions"} else "")}
        )
    return out


def rollout(details: Any) -> list[tuple[str, str]]:
    """Key/value pairs of ``details["rollout"]`` (revision, status, duration, replicas ready...)."""
    data = details.get("rollout") if isinstance(details, dict) else None
    if not isinstance(data, dict):
        return []
    return [(str(k).replace("_", " "), show(v)) for k, v in list(data.items())[:30]]


def other_details(details: Any) -> str:
    """The rest of ``details`` as pretty JSON, for anything a source added that has no section of its own."""
    if not isinstance(details, dict):
        return ""
    rest = {k: v for k, v in details.items() if k not in {"rollout", "commit_range", "commits", "links", "flag"}}
    return json.dumps(rest, indent=2, sort_keys=True, default=str) if rest else ""
