"""Raw API objects → the small normalised state we keep, diff and store.

Everything that leaves the collector process goes through here first, so this is where secrets stop:
Secret values and secret-looking env/ConfigMap values become keyed hashes, credentials inside other values (URL
userinfo, ``password=`` lines of a ConfigMap file, ``--db-pass`` arguments, tokens in annotations) are hashed by the
one scrubber (``integrations.scrub``), the last-applied annotation (which
holds a Secret's values in clear) is dropped, and status is reduced to the few fields that matter. Noise
(managedFields bodies, resourceVersion, heartbeat timestamps) never reaches the digest, so heartbeat-only
updates compare equal and are never sent.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

from integrations.scrub import is_credential_name, keyed_hash, scrub_text, scrub_value

NOISE_ANNOTATIONS = frozenset(
    {
        "kubectl.kubernetes.io/last-applied-configuration",
        "deployment.kubernetes.io/revision",
        "deployment.kubernetes.io/desired-replicas",
        "deployment.kubernetes.io/max-replicas",
        "autoscaling.alpha.kubernetes.io/conditions",
        "autoscaling.alpha.kubernetes.io/current-metrics",
        "control-plane.alpha.kubernetes.io/leader",
        "meta.helm.sh/release-namespace",
    }
)
SECRET_NAME = re.compile(
    r"pass(word|wd)?|secret|token|api[_-]?key|private[_-]?key|credential|auth|dsn|cookie|"
    r"session[_-]?key|access[_-]?key|signing",
    re.IGNORECASE,
)
MAX_VALUE = 2048  # longer ConfigMap values are kept as a hash: a diff of a 1 MB blob helps nobody


def looks_secret(name: str) -> bool:
    return bool(SECRET_NAME.search(name)) or is_credential_name(name)


def _annotations(annotations: dict[str, Any], key: bytes) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, value in annotations.items():
        if name in NOISE_ANNOTATIONS:
            continue
        text = str(value)
        out[name] = {"redacted": keyed_hash(text, key)} if is_credential_name(name) else scrub_text(text, key)
    return out


def digest(state: dict[str, Any]) -> str:
    """Hash of what matters in a state: equal digests mean nothing worth recording changed."""
    body = {k: v for k, v in state.items() if k not in ("rv", "managers", "observed_at")}
    return hashlib.blake2b(json.dumps(body, sort_keys=True, default=str).encode(), digest_size=12).hexdigest()


def _meta(raw: dict[str, Any], key: bytes) -> dict[str, Any]:
    meta = raw.get("metadata") or {}
    annotations = _annotations(meta.get("annotations") or {}, key)
    owners = [o for o in meta.get("ownerReferences") or [] if o.get("controller", True)]
    return {
        "kind": raw.get("kind", ""),
        "namespace": meta.get("namespace", ""),
        "name": meta.get("name", ""),
        "uid": meta.get("uid", ""),
        "rv": meta.get("resourceVersion", ""),
        "generation": meta.get("generation", 0),
        "labels": dict(meta.get("labels") or {}),
        "annotations": annotations,
        "revision": (meta.get("annotations") or {}).get("deployment.kubernetes.io/revision", ""),
        "owner": {"kind": owners[0].get("kind", ""), "name": owners[0].get("name", "")} if owners else None,
        "managers": _managers(meta.get("managedFields") or []),
    }


def _managers(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Who last wrote which spec fields: [{manager, operation, time, subresource, fields: [top-level paths]}]."""
    out = []
    for entry in entries:
        if entry.get("subresource") == "status":
            continue
        fields = entry.get("fieldsV1") or {}
        spec = fields.get("f:spec") or {}
        paths = [f"spec.{k[2:]}" for k in spec if k.startswith("f:")]
        if (fields.get("f:data") or fields.get("f:stringData") or fields.get("f:binaryData")) is not None:
            paths.append("data")
        if (fields.get("f:metadata") or {}).get("f:labels") or (fields.get("f:metadata") or {}).get("f:annotations"):
            paths.append("metadata")
        if entry.get("subresource") == "scale":
            paths.append("spec.replicas")
        if paths:
            out.append(
                {
                    "manager": entry.get("manager", ""),
                    "operation": entry.get("operation", ""),
                    "time": entry.get("time", ""),
                    "subresource": entry.get("subresource", ""),
                    "fields": sorted(set(paths)),
                }
            )
    return out


def _env(container: dict[str, Any], key: bytes) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for var in container.get("env") or []:
        name = var.get("name", "")
        if "value" in var:
            value = str(var["value"])
            out[name] = {"redacted": keyed_hash(value, key)} if looks_secret(name) else scrub_text(value, key)
        elif var.get("valueFrom"):
            source = var["valueFrom"]
            if "secretKeyRef" in source:
                ref = source["secretKeyRef"]
                out[name] = {"secretKeyRef": f"{ref.get('name', '')}/{ref.get('key', '')}"}
            elif "configMapKeyRef" in source:
                ref = source["configMapKeyRef"]
                out[name] = {"configMapKeyRef": f"{ref.get('name', '')}/{ref.get('key', '')}"}
            else:
                out[name] = {"valueFrom": sorted(source)}
        else:
            out[name] = ""
    return out


def _container(c: dict[str, Any], key: bytes) -> dict[str, Any]:
    return {
        "image": c.get("image", ""),
        "env": _env(c, key),
        "envFrom": [
            {k: (v or {}).get("name", "") for k, v in e.items() if k != "prefix"} for e in c.get("envFrom") or []
        ],
        "resources": c.get("resources") or {},
        "command": scrub_value(c.get("command") or [], key),
        "args": scrub_value(c.get("args") or [], key),
        "livenessProbe": scrub_value(c.get("livenessProbe"), key),
        "readinessProbe": scrub_value(c.get("readinessProbe"), key),
        "startupProbe": scrub_value(c.get("startupProbe"), key),
        "volumeMounts": c.get("volumeMounts") or [],
    }


def _refs(pod_spec: dict[str, Any]) -> dict[str, list[str]]:
    """Names of the ConfigMaps and Secrets a pod template mounts or reads env from."""
    cms: set[str] = set()
    secrets: set[str] = set()
    for vol in pod_spec.get("volumes") or []:
        if vol.get("configMap"):
            cms.add(vol["configMap"].get("name", ""))
        if vol.get("secret"):
            secrets.add(vol["secret"].get("secretName", ""))
        for src in (vol.get("projected") or {}).get("sources") or []:
            if src.get("configMap"):
                cms.add(src["configMap"].get("name", ""))
            if src.get("secret"):
                secrets.add(src["secret"].get("name", ""))
    for c in [*(pod_spec.get("containers") or []), *(pod_spec.get("initContainers") or [])]:
        for e in c.get("envFrom") or []:
            if e.get("configMapRef"):
                cms.add(e["configMapRef"].get("name", ""))
            if e.get("secretRef"):
                secrets.add(e["secretRef"].get("name", ""))
        for var in c.get("env") or []:
            src = var.get("valueFrom") or {}
            if src.get("configMapKeyRef"):
                cms.add(src["configMapKeyRef"].get("name", ""))
            if src.get("secretKeyRef"):
                secrets.add(src["secretKeyRef"].get("name", ""))
    return {"configmaps": sorted(cms - {""}), "secrets": sorted(secrets - {""})}


def _template(template: dict[str, Any], key: bytes) -> dict[str, Any]:
    spec = template.get("spec") or {}
    meta = template.get("metadata") or {}
    return {
        "labels": dict(meta.get("labels") or {}),
        "annotations": _annotations(meta.get("annotations") or {}, key),
        "containers": {c.get("name", ""): _container(c, key) for c in spec.get("containers") or []},
        "initContainers": {c.get("name", ""): _container(c, key) for c in spec.get("initContainers") or []},
        "volumes": {v.get("name", ""): {k: x for k, x in v.items() if k != "name"} for v in spec.get("volumes") or []},
        "serviceAccountName": spec.get("serviceAccountName", ""),
        "nodeSelector": spec.get("nodeSelector") or {},
    }


def _conditions(status: dict[str, Any]) -> dict[str, dict[str, str]]:
    return {
        c.get("type", ""): {
            "status": c.get("status", ""),
            "reason": c.get("reason", ""),
            "time": c.get("lastUpdateTime") or c.get("lastTransitionTime") or "",
        }
        for c in status.get("conditions") or []
    }


def normalize(raw: dict[str, Any], key: bytes, kind: str = "") -> dict[str, Any]:
    """The normalised state of one object. ``key`` keys the hashes of secret values; ``kind`` is needed for
    list items, which (unlike watch events) carry no ``kind`` of their own."""
    kind = kind or raw.get("kind", "")
    raw = {**raw, "kind": kind}
    state = _meta(raw, key)
    spec = raw.get("spec") or {}
    status = raw.get("status") or {}
    handler = _KINDS.get(kind)
    if handler is not None:
        state.update(handler(spec, status, raw, key))
    return state


def _workload(spec: dict[str, Any], status: dict[str, Any], raw: dict[str, Any], key: bytes) -> dict[str, Any]:
    kind = raw.get("kind")
    template = spec.get("template") or {}
    if kind == "CronJob":
        template = ((spec.get("jobTemplate") or {}).get("spec") or {}).get("template") or {}
    out: dict[str, Any] = {
        "spec": {"replicas": spec.get("replicas"), "template": _template(template, key)},
        "refs": _refs(template.get("spec") or {}),
        "status": {
            k: status.get(k)
            for k in (
                "observedGeneration",
                "replicas",
                "updatedReplicas",
                "availableReplicas",
                "readyReplicas",
                "unavailableReplicas",
                "desiredNumberScheduled",
                "updatedNumberScheduled",
                "numberAvailable",
                "currentRevision",
                "updateRevision",
                "succeeded",
                "failed",
                "active",
            )
            if status.get(k) is not None
        },
    }
    out["status"]["conditions"] = _conditions(status)
    if kind == "CronJob":
        out["spec"]["schedule"] = spec.get("schedule", "")
        out["spec"]["suspend"] = bool(spec.get("suspend"))
        out["status"] = {}  # lastScheduleTime ticks every run: noise
    if kind == "ReplicaSet":
        out = {
            "spec": {
                "replicas": spec.get("replicas"),
                "images": [c.get("image", "") for c in (template.get("spec") or {}).get("containers") or []],
            },
            "status": {"replicas": status.get("replicas"), "readyReplicas": status.get("readyReplicas")},
        }
    return out


def _hpa(spec: dict[str, Any], status: dict[str, Any], raw: dict[str, Any], key: bytes) -> dict[str, Any]:
    return {
        "spec": {
            "scaleTargetRef": spec.get("scaleTargetRef") or {},
            "minReplicas": spec.get("minReplicas", 1),
            "maxReplicas": spec.get("maxReplicas"),
            "metrics": spec.get("metrics") or [],
            "behavior": spec.get("behavior") or {},
        },
        "status": {"desiredReplicas": status.get("desiredReplicas"), "currentReplicas": status.get("currentReplicas")},
    }


def _configmap(spec: dict[str, Any], status: dict[str, Any], raw: dict[str, Any], key: bytes) -> dict[str, Any]:
    data = {}
    for k, v in (raw.get("data") or {}).items():
        v = str(v)
        # a file (application.properties, .env, YAML, JSON) keeps its shape with the credentials inside hashed
        data[k] = {"redacted": keyed_hash(v, key)} if looks_secret(k) or len(v) > MAX_VALUE else scrub_text(v, key)
    for k, v in (raw.get("binaryData") or {}).items():
        data[k] = {"redacted": keyed_hash(str(v), key)}
    return {"data": data}


def _secret(spec: dict[str, Any], status: dict[str, Any], raw: dict[str, Any], key: bytes) -> dict[str, Any]:
    # Only keyed hashes of the values: never the values, not even base64 (which is not encryption).
    data = {k: {"redacted": keyed_hash(str(v), key)} for k, v in (raw.get("data") or {}).items()}
    data.update({k: {"redacted": keyed_hash(str(v), key)} for k, v in (raw.get("stringData") or {}).items()})
    return {"data": data, "type": raw.get("type", "")}


def _service(spec: dict[str, Any], status: dict[str, Any], raw: dict[str, Any], key: bytes) -> dict[str, Any]:
    ports = [{"port": p.get("port"), "name": p.get("name", "")} for p in spec.get("ports") or []]
    return {"spec": {"selector": spec.get("selector") or {}, "ports": ports, "type": spec.get("type", "")}}


def _ingress(spec: dict[str, Any], status: dict[str, Any], raw: dict[str, Any], key: bytes) -> dict[str, Any]:
    backends: list[dict[str, str]] = []
    for rule in spec.get("rules") or []:
        for path in (rule.get("http") or {}).get("paths") or []:
            svc = (path.get("backend") or {}).get("service") or {}
            if svc.get("name"):
                backends.append({"host": rule.get("host", ""), "path": path.get("path", "/"), "service": svc["name"]})
    default = ((spec.get("defaultBackend") or {}).get("service") or {}).get("name")
    if default:
        backends.append({"host": "", "path": "", "service": default})
    return {"spec": {"backends": backends}}


def _pod(spec: dict[str, Any], status: dict[str, Any], raw: dict[str, Any], key: bytes) -> dict[str, Any]:
    containers = []
    for cs in [*(status.get("initContainerStatuses") or []), *(status.get("containerStatuses") or [])]:
        st, last = cs.get("state") or {}, cs.get("lastState") or {}
        containers.append(
            {
                "name": cs.get("name", ""),
                "ready": bool(cs.get("ready")),
                "restarts": cs.get("restartCount", 0),
                "running": "running" in st,
                "waiting": (st.get("waiting") or {}).get("reason", ""),
                "terminated": (st.get("terminated") or {}).get("reason", ""),
                "last_terminated": (last.get("terminated") or {}).get("reason", ""),
            }
        )
    conditions = _conditions(status)
    return {
        "node": spec.get("nodeName", ""),
        "phase": status.get("phase", ""),
        "reason": status.get("reason", ""),
        "containers": containers,
        "ready": conditions.get("Ready", {}).get("status", ""),
        "unschedulable": conditions.get("PodScheduled", {}).get("reason") == "Unschedulable",
    }


def _node(spec: dict[str, Any], status: dict[str, Any], raw: dict[str, Any], key: bytes) -> dict[str, Any]:
    # Only the Ready status: lastHeartbeatTime moves every few seconds and must never look like a change.
    ready = _conditions(status).get("Ready", {})
    return {
        "ready": ready.get("status", "Unknown"),
        "ready_reason": ready.get("reason", ""),
        "labels": {},
        "annotations": {},
        "managers": [],
    }


def _event(spec: dict[str, Any], status: dict[str, Any], raw: dict[str, Any], key: bytes) -> dict[str, Any]:
    inv = raw.get("involvedObject") or {}
    return {
        "type": raw.get("type", ""),
        "reason": raw.get("reason", ""),
        "message": str(raw.get("message", ""))[:500],
        "count": raw.get("count") or 1,
        "involved": {"kind": inv.get("kind", ""), "name": inv.get("name", ""), "namespace": inv.get("namespace", "")},
        "first": raw.get("firstTimestamp") or raw.get("eventTime") or "",
        "last": raw.get("lastTimestamp") or raw.get("eventTime") or raw.get("firstTimestamp") or "",
        "managers": [],
    }


_KINDS = {
    "Deployment": _workload,
    "StatefulSet": _workload,
    "DaemonSet": _workload,
    "CronJob": _workload,
    "ReplicaSet": _workload,
    "Job": _workload,
    "HorizontalPodAutoscaler": _hpa,
    "ConfigMap": _configmap,
    "Secret": _secret,
    "Service": _service,
    "Ingress": _ingress,
    "Pod": _pod,
    "Node": _node,
    "Event": _event,
}
