"""The commit behind an image: a SHA tag, or labels/annotations that name the commit and the repository."""

from __future__ import annotations

import re
from typing import Any

_SHA_TAG = re.compile(r"(?:^|[-_.])([0-9a-f]{7,40})$")
_SHA = re.compile(r"^[0-9a-f]{7,40}$")
COMMIT_KEYS = ("changetrack.io/commit", "app.kubernetes.io/version")
REPO_KEY = "changetrack.io/repo"


def image_tag(image: str) -> str:
    name = image.split("@", 1)[0]
    last = name.rsplit("/", 1)[-1]
    return last.split(":", 1)[1] if ":" in last else ""


def commit_of(state: dict[str, Any] | None, image: str) -> str:
    """The commit SHA for a workload state running ``image``, or ""."""
    match = _SHA_TAG.search(image_tag(image).lower())
    if match:
        return match.group(1)
    template = ((state or {}).get("spec") or {}).get("template") or {}
    for source in (
        template.get("annotations") or {},
        template.get("labels") or {},
        (state or {}).get("annotations") or {},
        (state or {}).get("labels") or {},
    ):
        for key in COMMIT_KEYS:
            value = str(source.get(key, "")).strip().lower()
            if _SHA.match(value):
                return value
    return ""


def repo_of(state: dict[str, Any] | None) -> str:
    template = ((state or {}).get("spec") or {}).get("template") or {}
    for source in (
        template.get("annotations") or {},
        (state or {}).get("annotations") or {},
        (state or {}).get("labels") or {},
    ):
        if source.get(REPO_KEY):
            return str(source[REPO_KEY]).strip()
    return ""
