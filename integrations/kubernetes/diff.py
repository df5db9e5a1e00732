"""Semantic, field-level diffs of the spec, the kind of change, and who made it.

Only the spec is compared (plus labels/annotations and data): status, managedFields, resourceVersion and
generation are noise. Values already redacted by ``normalize`` stay redacted: the diff shows that they changed
(``redacted: true`` with the keyed hashes), never what they are.
"""

from __future__ import annotations

from typing import Any

MAX_ENTRIES = 200


def diff_values(
    before: Any, after: Any, path: str = "", out: list[dict[str, Any]] | None = None
) -> list[dict[str, Any]]:
    """Flatten the differences between two JSON values into [{path, before, after[, redacted]}]."""
    out = [] if out is None else out
    if len(out) >= MAX_ENTRIES or before == after:
        return out
    if _is_redacted(before) or _is_redacted(after):
        out.append({"path": path, "before": _hash_of(before), "after": _hash_of(after), "redacted": True})
        return out
    if isinstance(before, dict) and isinstance(after, dict):
        for key in sorted(set(before) | set(after)):
            diff_values(before.get(key), after.get(key), f"{path}.{key}" if path else str(key), out)
        return out
    out.append({"path": path, "before": before, "after": after})
    return out


def _is_redacted(value: Any) -> bool:
    return isinstance(value, dict) and set(value) == {"redacted"}


def _hash_of(value: Any) -> Any:
    return value["redacted"] if _is_redacted(value) else ("(set)" if value not in (None, "") else value)


def spec_diff(before: dict[str, Any] | None, after: dict[str, Any]) -> list[dict[str, Any]]:
    """Diff of what matters in two normalised states of one object."""
    before = before or {}
    out: list[dict[str, Any]] = []
    for part in ("spec", "data", "labels", "annotations", "type"):
        if part in after or part in before:
            diff_values(before.get(part), after.get(part), part, out)
    return [_shorten(d) for d in out]


def _shorten(entry: dict[str, Any]) -> dict[str, Any]:
    # "spec.template.containers.web.image" reads better as "containers.web.image"
    entry["path"] = (
        entry["path"].replace("spec.template.", "").replace("spec.", "", 1)
        if entry["path"].startswith("spec.")
        else entry["path"]
    )
    return entry


def template_changed(before: dict[str, Any] | None, after: dict[str, Any]) -> bool:
    return (
        before is not None
        and bool(before)
        and (before.get("spec") or {}).get("template") != (after.get("spec") or {}).get("template")
    )


def replicas_changed(before: dict[str, Any] | None, after: dict[str, Any]) -> bool:
    return (
        before is not None
        and bool(before)
        and (before.get("spec") or {}).get("replicas") != (after.get("spec") or {}).get("replicas")
    )


def images(state: dict[str, Any] | None) -> dict[str, str]:
    containers = (((state or {}).get("spec") or {}).get("template") or {}).get("containers") or {}
    return {name: c.get("image", "") for name, c in containers.items()}


# --- who -----------------------------------------------------------------------------------------------------

CONTROLLERS = ("kube-controller-manager", "horizontal-pod-autoscaler", "vpa-updater", "keda")


def actor_label(manager: str) -> str:
    """managedFields manager → who: kubectl, helm, argocd, a controller, or the manager name itself."""
    low = manager.lower()
    if low.startswith("kubectl"):
        return "kubectl"
    if low.startswith("helm"):
        return "helm"
    if "argocd" in low or low.startswith("argo"):
        return "argocd"
    if low.startswith(CONTROLLERS):
        return f"controller:{manager}"
    return manager


def last_writer(state: dict[str, Any], prefix: str) -> dict[str, Any] | None:
    """The managedFields entry that most recently wrote a field under ``prefix`` (e.g. ``spec.replicas``)."""
    best: dict[str, Any] | None = None
    for entry in state.get("managers") or []:
        if any(f == prefix or f.startswith(prefix + ".") or prefix.startswith(f + ".") for f in entry["fields"]):
            if best is None or (entry.get("time") or "") >= (best.get("time") or ""):
                best = entry
    return best


def actor_for(state: dict[str, Any], prefix: str) -> tuple[str, str]:
    """(actor label, ISO time of the write) for the last writer of ``prefix``, or ("", "")."""
    entry = last_writer(state, prefix)
    if entry is None:
        return "", ""
    return actor_label(entry.get("manager", "")), entry.get("time", "")
