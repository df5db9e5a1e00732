"""What the deploy tests read: the rendered Kustomize variants, the containers in them, and the environment
variables changetrack reads (from ``changetrack/settings.py`` and the README's configuration table)."""

from __future__ import annotations

import ast
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
KUSTOMIZE = ROOT / "deploy" / "kubernetes"
VARIANTS = {  # name → the kustomization directory (or its text, for a variant built in a temporary directory)
    "base": str(KUSTOMIZE),
    "namespaced": str(KUSTOMIZE / "overlays" / "namespaced"),
    "collector-only": str(KUSTOMIZE / "overlays" / "collector-only"),
    "with-ingress": "resources: [{root}]\ncomponents: [{root}/components/ingress]\n",
    "several-contexts": "resources: [{root}]\ncomponents: [{root}/components/collector-contexts]\n",
}
FULL_INSTALLS = ("base", "namespaced", "with-ingress", "several-contexts")  # every role, not a collector alone
WORKLOADS = {"Deployment", "Job", "StatefulSet", "DaemonSet", "CronJob"}


def kubectl() -> str:
    path = shutil.which("kubectl")
    if path is None:
        pytest.skip(
            "SKIPPED LOUDLY: kubectl is not installed, so the Kustomize manifests cannot be rendered; "
            "`make image-deps` installs it where the Kubernetes apt repository is configured"
        )
    return path


@cache
def render(variant: str) -> tuple[dict[str, Any], ...]:
    """``kubectl kustomize`` of one variant, as the objects ``kubectl apply -k`` would send."""
    source = VARIANTS[variant]
    if source.startswith("/"):
        out = subprocess.run([kubectl(), "kustomize", source], capture_output=True, text=True, check=False)
    else:  # a user's own overlay, elsewhere on disk (Kustomize wants relative paths to what it builds on)
        with tempfile.TemporaryDirectory() as tmp:
            (Path(tmp) / "kustomization.yaml").write_text(source.format(root=os.path.relpath(KUSTOMIZE, tmp)))
            out = subprocess.run([kubectl(), "kustomize", tmp], capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stderr
    return tuple(doc for doc in yaml.safe_load_all(out.stdout) if doc)


def pod_spec(obj: dict[str, Any]) -> dict[str, Any]:
    spec = obj["spec"]
    if obj["kind"] == "CronJob":
        spec = spec["jobTemplate"]["spec"]
    return spec["template"]["spec"]


def workloads(variant: str) -> Iterator[dict[str, Any]]:
    return (o for o in render(variant) if o["kind"] in WORKLOADS)


def containers(variant: str) -> Iterator[tuple[dict[str, Any], dict[str, Any], dict[str, Any]]]:
    """(workload, pod spec, container) for every container and init container."""
    for obj in workloads(variant):
        spec = pod_spec(obj)
        for container in [*spec.get("initContainers", []), *spec["containers"]]:
            yield obj, spec, container


def one(variant: str, kind: str, name: str) -> dict[str, Any]:
    found = [o for o in render(variant) if o["kind"] == kind and o["metadata"]["name"] == name]
    assert len(found) == 1, f"{kind}/{name}: {len(found)} rendered"
    return found[0]


def environment(variant: str, container: dict[str, Any]) -> dict[str, str]:
    """The variables a container starts with: its ConfigMap's data (envFrom) then its own ``env`` (Secret
    references become ``secret:<name>/<key>``)."""
    env: dict[str, str] = {}
    for source in container.get("envFrom", []):
        ref = source.get("configMapRef")
        assert ref, f"only ConfigMaps are read whole (envFrom), not {source}"
        env.update(one(variant, "ConfigMap", ref["name"])["data"])
    for var in container.get("env", []):
        ref = (var.get("valueFrom") or {}).get("secretKeyRef")
        env[var["name"]] = f"secret:{ref['name']}/{ref['key']}" if ref else var["value"]
    return env


# --- what changetrack reads ---------------------------------------------------------------------------------


# os.environ.get, os.getenv, and the settings' helpers (_env_bool, _env_int, a secret or *_FILE reader)
ENV_READER = re.compile(r"environ|getenv|_env|secret|file", re.IGNORECASE)


def _read_in(path: Path) -> dict[str, bool]:
    """Every environment variable a module reads by a constant name → whether it may be unset.

    ``os.environ["X"]`` may not (a KeyError); ``os.environ.get("X")``, ``getenv`` and the settings' helpers
    (``_env_bool``, a secret reader that also takes ``X_FILE``) fall back to a default or to empty."""
    found: dict[str, bool] = {}
    for node in ast.walk(ast.parse(path.read_text())):
        if (
            isinstance(node, ast.Subscript)
            and isinstance(node.ctx, ast.Load)
            and ast.unparse(node.value) == "os.environ"
        ):
            if isinstance(node.slice, ast.Constant) and isinstance(node.slice.value, str):
                found.setdefault(node.slice.value, False)
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
            name, func = node.args[0].value, ast.unparse(node.func)
            if isinstance(name, str) and name.isupper() and ENV_READER.search(func):
                found[name] = True
    return found


def settings_variables() -> dict[str, bool]:
    return _read_in(ROOT / "changetrack" / "settings.py")


def process_variables() -> set[str]:
    """What the image's entry point and the embedded-mode switch read (roles, ports, the data directory)."""
    return {*_read_in(ROOT / "changetrack" / "processes.py"), *_read_in(ROOT / "changetrack" / "embedded.py")}


def readme_defaults() -> dict[str, str]:
    """The README's configuration table: variable → its default column."""
    text = (ROOT / "README.md").read_text()
    table = text.split("## Configuration (environment)", 1)[1].split("\n\n", 2)[1]
    defaults: dict[str, str] = {}
    for line in table.splitlines()[2:]:
        cells = [c.strip() for c in line.strip("|").split("|")]
        for name in re.findall(r"`([A-Z][A-Z0-9_]+)`", cells[0]):
            defaults[name] = cells[1]
    return defaults


# a default that only holds on a developer's machine: the embedded servers, a development key (or one kept in .data,
# or only with DEBUG on), a loopback address
DEVELOPMENT_ONLY = re.compile(r"embedded|dev key|development|debug|\.data|127\.0\.0\.1|localhost|\$PORT", re.IGNORECASE)


def required_in_production() -> set[str]:
    """Variables production must set: read with no default at all, or documented with a development-only one."""
    no_default = {name for name, has_default in settings_variables().items() if not has_default}
    dev_default = {name for name, default in readme_defaults().items() if DEVELOPMENT_ONLY.search(default)}
    return no_default | dev_default
