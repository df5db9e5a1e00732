"""Git references shared by CI and CD integrations: repository names from clone URLs, commit SHA checks."""

from __future__ import annotations

import re

_HEX = re.compile(r"^[0-9a-f]{7,64}$")
_SCP = re.compile(r"^[\w.-]+@[\w.-]+:(?P<path>.+)$")  # git@github.com:acme/api.git


def repository_from_url(url: str) -> str:
    """``git@github.com:acme/api.git`` / ``https://github.com/acme/api.git`` → ``acme/api`` ('' if unknown).

    Only the last two path segments are kept: that is ``Service.repository`` for GitHub and GitLab projects."""
    url = url.strip()
    if not url:
        return ""
    match = _SCP.match(url)
    path = match.group("path") if match else re.sub(r"^[a-z+]+://[^/]+/", "", url)
    parts = [p for p in path.removesuffix("/").removesuffix(".git").split("/") if p]
    return "/".join(parts[-2:]) if len(parts) >= 2 else ""


def commit_sha(value: object) -> str:
    """A lowercase hex SHA (full or short, ≥ 7 chars) or '' (a branch name, a Helm chart version)."""
    text = value.strip().lower() if isinstance(value, str) else ""
    return text if _HEX.match(text) else ""


def public_url(url: str) -> str:
    """A clone URL without any user or password in it (``https://x:token@ghe.example.com/a/b.git`` →
    ``https://ghe.example.com/a/b.git``), kept so a page can link the repository on its own host. An scp-style
    address (``git@host:a/b.git``) names no secret and is kept as it is."""
    url = url.strip()
    return re.sub(r"^([a-z+]+://)[^/@]*@", r"\1", url, flags=re.IGNORECASE)
