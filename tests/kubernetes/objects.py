"""Realistic Kubernetes objects, shaped like ``kubectl create ... --dry-run=client -o json`` output plus the
status blocks the API reference documents. Builders return fresh dicts so tests can mutate them."""

from __future__ import annotations

import copy
from typing import Any


def deployment(
    name: str,
    namespace: str = "prod",
    image: str = "registry.example.com/shop/web:1.4.2",
    replicas: int = 3,
    env: list[dict[str, Any]] | None = None,
    labels: dict[str, str] | None = None,
    volumes: list[dict[str, Any]] | None = None,
    annotations: dict[str, str] | None = None,
    kind: str = "Deployment",
) -> dict[str, Any]:
    labels = labels or {"app": name, "app.kubernetes.io/name": name}
    container = {
        "name": name,
        "image": image,
        "ports": [{"containerPort": 8080, "protocol": "TCP"}],
        "env": env or [],
        "resources": {"requests": {"cpu": "250m", "memory": "256Mi"}, "limits": {"memory": "512Mi"}},
        "readinessProbe": {
            "httpGet": {"path": "/healthz", "port": 8080, "scheme": "HTTP"},
            "periodSeconds": 10,
            "timeoutSeconds": 1,
            "successThreshold": 1,
            "failureThreshold": 3,
        },
        "terminationMessagePath": "/dev/termination-log",
        "terminationMessagePolicy": "File",
        "imagePullPolicy": "IfNotPresent",
    }
    if volumes:
        container["volumeMounts"] = [{"name": v["name"], "mountPath": f"/etc/{v['name']}"} for v in volumes]
    obj: dict[str, Any] = {
        "kind": kind,
        "apiVersion": "apps/v1",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": dict(labels),
            "annotations": dict(annotations or {}),
        },
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": dict(labels)},
                "spec": {
                    "containers": [container],
                    "volumes": volumes or [],
                    "restartPolicy": "Always",
                    "terminationGracePeriodSeconds": 30,
                    "dnsPolicy": "ClusterFirst",
                    "schedulerName": "default-scheduler",
                    "securityContext": {},
                },
            },
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}},
            "revisionHistoryLimit": 10,
            "progressDeadlineSeconds": 600,
        },
        "status": rolled_out_status(replicas, 1),
    }
    return obj


def rolled_out_status(replicas: int, generation: int) -> dict[str, Any]:
    return {
        "observedGeneration": generation,
        "replicas": replicas,
        "updatedReplicas": replicas,
        "readyReplicas": replicas,
        "availableReplicas": replicas,
        "conditions": [
            {
                "type": "Available",
                "status": "True",
                "reason": "MinimumReplicasAvailable",
                "message": "Deployment has minimum availability.",
                "lastUpdateTime": "2026-11-22T01:00:00Z",
                "lastTransitionTime": "2026-11-22T01:00:00Z",
            },
            {
                "type": "Progressing",
                "status": "True",
                "reason": "NewReplicaSetAvailable",
                "message": "ReplicaSet has successfully progressed.",
                "lastUpdateTime": "2026-11-22T01:00:00Z",
                "lastTransitionTime": "2026-11-22T01:00:00Z",
            },
        ],
    }


def progressing_status(
    replicas: int, generation: int, updated: int, reason: str = "ReplicaSetUpdated"
) -> dict[str, Any]:
    st = rolled_out_status(replicas, generation)
    st.update(updatedReplicas=updated, replicas=replicas + updated if updated < replicas else replicas)
    st["conditions"][1].update(
        reason=reason,
        status="False" if reason == "ProgressDeadlineExceeded" else "True",
        lastUpdateTime="2026-11-22T01:05:00Z",
    )
    return st


def owner_ref(owner: dict[str, Any]) -> dict[str, Any]:
    """The controller reference a controller puts on what it creates (ReplicaSet → Deployment, Job → CronJob)."""
    return {
        "apiVersion": owner["apiVersion"],
        "kind": owner["kind"],
        "name": owner["metadata"]["name"],
        "uid": owner["metadata"].get("uid", "u"),
        "controller": True,
        "blockOwnerDeletion": True,
    }


def owned_metadata(owner: dict[str, Any], name: str, labels: dict[str, str], **extra: Any) -> dict[str, Any]:
    """Metadata of an object ``owner`` controls: in its namespace, with an owner reference to it."""
    return {
        "name": name,
        "namespace": owner["metadata"]["namespace"],
        "labels": labels,
        **extra,
        "ownerReferences": [owner_ref(owner)],
    }


def replicaset(deploy: dict[str, Any], hash_: str, revision: str = "1") -> dict[str, Any]:
    name = deploy["metadata"]["name"]
    return {
        "kind": "ReplicaSet",
        "apiVersion": "apps/v1",
        "metadata": owned_metadata(
            deploy,
            f"{name}-{hash_}",
            {**deploy["spec"]["template"]["metadata"]["labels"], "pod-template-hash": hash_},
            annotations={"deployment.kubernetes.io/revision": revision},
        ),
        "spec": {
            "replicas": deploy["spec"]["replicas"],
            "selector": deploy["spec"]["selector"],
            "template": copy.deepcopy(deploy["spec"]["template"]),
        },
        "status": {"replicas": deploy["spec"]["replicas"], "readyReplicas": deploy["spec"]["replicas"]},
    }


def pod(
    rs: dict[str, Any],
    suffix: str,
    node: str = "node-a",
    waiting: str = "",
    restarts: int = 0,
    last_terminated: str = "",
    ready: bool = True,
) -> dict[str, Any]:
    container = rs["spec"]["template"]["spec"]["containers"][0]
    state: dict[str, Any] = {"running": {"startedAt": "2026-11-22T01:00:00Z"}}
    if waiting:
        state = {
            "waiting": {"reason": waiting, "message": f"back-off 5m0s restarting failed container={container['name']}"}
        }
    last: dict[str, Any] = {}
    if last_terminated:
        last = {
            "terminated": {
                "exitCode": 137 if last_terminated == "OOMKilled" else 1,
                "reason": last_terminated,
                "startedAt": "2026-11-22T01:00:00Z",
                "finishedAt": "2026-11-22T01:01:00Z",
            }
        }
    is_ready = ready and not waiting
    return {
        "kind": "Pod",
        "apiVersion": "v1",
        "metadata": owned_metadata(rs, f"{rs['metadata']['name']}-{suffix}", dict(rs["metadata"]["labels"])),
        "spec": {"nodeName": node, "containers": [copy.deepcopy(container)]},
        "status": {
            "phase": "Running",
            "hostIP": "10.0.0.5",
            "podIP": "10.244.1.7",
            "startTime": "2026-11-22T01:00:00Z",
            "conditions": [
                {"type": "Ready", "status": "True" if is_ready else "False"},
                {"type": "ContainersReady", "status": "True" if is_ready else "False"},
                {"type": "PodScheduled", "status": "True"},
            ],
            "containerStatuses": [
                {
                    "name": container["name"],
                    "image": container["image"],
                    "imageID": "",
                    "ready": is_ready,
                    "restartCount": restarts,
                    "started": not waiting,
                    "state": state,
                    "lastState": last,
                }
            ],
        },
    }


def configmap(name: str, data: dict[str, str], namespace: str = "prod") -> dict[str, Any]:
    return {
        "kind": "ConfigMap",
        "apiVersion": "v1",
        "metadata": {"name": name, "namespace": namespace},
        "data": dict(data),
    }


def secret(name: str, data_b64: dict[str, str], namespace: str = "prod") -> dict[str, Any]:
    return {
        "kind": "Secret",
        "apiVersion": "v1",
        "metadata": {"name": name, "namespace": namespace},
        "type": "Opaque",
        "data": dict(data_b64),
    }


def service(name: str, selector: dict[str, str], namespace: str = "prod", port: int = 80) -> dict[str, Any]:
    return {
        "kind": "Service",
        "apiVersion": "v1",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "selector": dict(selector),
            "type": "ClusterIP",
            "clusterIP": "10.96.0.10",
            "ports": [{"name": "http", "port": port, "protocol": "TCP", "targetPort": 8080}],
        },
    }


def hpa(name: str, target: str, min_r: int, max_r: int, desired: int, namespace: str = "prod") -> dict[str, Any]:
    return {
        "kind": "HorizontalPodAutoscaler",
        "apiVersion": "autoscaling/v2",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": target},
            "minReplicas": min_r,
            "maxReplicas": max_r,
            "metrics": [
                {
                    "type": "Resource",
                    "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 70}},
                }
            ],
        },
        "status": {
            "currentReplicas": desired,
            "desiredReplicas": desired,
            "conditions": [{"type": "AbleToScale", "status": "True", "reason": "ReadyForNewScale"}],
        },
    }


def node(name: str, ready: str = "True", heartbeat: str = "2026-11-22T01:00:00Z") -> dict[str, Any]:
    return {
        "kind": "Node",
        "apiVersion": "v1",
        "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name}},
        "spec": {"podCIDR": "10.244.1.0/24"},
        "status": {
            "conditions": [
                {
                    "type": "MemoryPressure",
                    "status": "False",
                    "reason": "KubeletHasSufficientMemory",
                    "lastHeartbeatTime": heartbeat,
                    "lastTransitionTime": "2026-11-22T00:00:00Z",
                },
                {
                    "type": "Ready",
                    "status": ready,
                    "reason": "KubeletReady" if ready == "True" else "NodeStatusUnknown",
                    "lastHeartbeatTime": heartbeat,
                    "lastTransitionTime": "2026-11-22T00:00:00Z",
                },
            ]
        },
    }


def lease(name: str, namespace: str = "kube-node-lease") -> dict[str, Any]:
    return {
        "kind": "Lease",
        "apiVersion": "coordination.k8s.io/v1",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"holderIdentity": name, "leaseDurationSeconds": 40, "renewTime": "2026-11-22T01:00:00.000000Z"},
    }


def warning_event(pod_name: str, reason: str, namespace: str = "prod", count: int = 1) -> dict[str, Any]:
    return {
        "kind": "Event",
        "apiVersion": "v1",
        "metadata": {"name": f"{pod_name}.17a{count:05d}", "namespace": namespace},
        "involvedObject": {"kind": "Pod", "namespace": namespace, "name": pod_name, "apiVersion": "v1"},
        "reason": reason,
        "message": "Readiness probe failed: HTTP probe failed with statuscode: 503",
        "source": {"component": "kubelet", "host": "node-a"},
        "firstTimestamp": "2026-11-22T01:00:00Z",
        "lastTimestamp": "2026-11-22T01:02:00Z",
        "count": count,
        "type": "Warning",
    }


def ingress(
    name: str, rules: list[tuple[str, str, str]], namespace: str = "prod", default_backend: str = ""
) -> dict[str, Any]:
    """``rules``: (host, path, service) triples, as ``kubectl create ingress --rule=host/path=svc:80``."""
    by_host: dict[str, list[dict[str, Any]]] = {}
    for host, path, svc in rules:
        by_host.setdefault(host, []).append(
            {"path": path, "pathType": "Prefix", "backend": {"service": {"name": svc, "port": {"number": 80}}}}
        )
    spec: dict[str, Any] = {
        "ingressClassName": "nginx",
        "rules": [{"host": host, "http": {"paths": paths}} for host, paths in by_host.items()],
    }
    if default_backend:
        spec["defaultBackend"] = {"service": {"name": default_backend, "port": {"number": 80}}}
    return {
        "kind": "Ingress",
        "apiVersion": "networking.k8s.io/v1",
        "metadata": {"name": name, "namespace": namespace},
        "spec": spec,
        "status": {"loadBalancer": {"ingress": [{"ip": "203.0.113.10"}]}},
    }


def _job_template(name: str, image: str) -> dict[str, Any]:
    return {
        "metadata": {"labels": {"app.kubernetes.io/name": name}},
        "spec": {
            "containers": [
                {
                    "name": name,
                    "image": image,
                    "resources": {},
                    "terminationMessagePath": "/dev/termination-log",
                    "terminationMessagePolicy": "File",
                    "imagePullPolicy": "IfNotPresent",
                }
            ],
            "restartPolicy": "OnFailure",
            "terminationGracePeriodSeconds": 30,
            "dnsPolicy": "ClusterFirst",
            "schedulerName": "default-scheduler",
            "securityContext": {},
        },
    }


def cronjob(
    name: str,
    schedule: str = "*/5 * * * *",
    namespace: str = "prod",
    image: str = "registry.example.com/ops/report:2.0",
) -> dict[str, Any]:
    return {
        "kind": "CronJob",
        "apiVersion": "batch/v1",
        "metadata": {"name": name, "namespace": namespace, "labels": {"app.kubernetes.io/name": name}},
        "spec": {
            "schedule": schedule,
            "concurrencyPolicy": "Allow",
            "suspend": False,
            "successfulJobsHistoryLimit": 3,
            "failedJobsHistoryLimit": 1,
            "jobTemplate": {"metadata": {"name": name}, "spec": {"template": _job_template(name, image)}},
        },
        "status": {"lastScheduleTime": "2026-11-22T01:00:00Z"},
    }


def job(cron: dict[str, Any], suffix: str, outcome: str = "") -> dict[str, Any]:
    """A Job the CronJob controller created; ``outcome`` "" (running), "Complete" or "Failed"."""
    name = cron["metadata"]["name"]
    status: dict[str, Any] = {"startTime": "2026-11-22T01:00:00Z", "active": 1}
    if outcome == "Complete":
        status = {
            "startTime": "2026-11-22T01:00:00Z",
            "completionTime": "2026-11-22T01:01:00Z",
            "succeeded": 1,
            "conditions": [
                {"type": "Complete", "status": "True", "lastTransitionTime": "2026-11-22T01:01:00Z"},
            ],
        }
    elif outcome == "Failed":
        status = {
            "startTime": "2026-11-22T01:00:00Z",
            "failed": 7,
            "conditions": [
                {
                    "type": "Failed",
                    "status": "True",
                    "reason": "BackoffLimitExceeded",
                    "message": "Job has reached the specified backoff limit",
                    "lastTransitionTime": "2026-11-22T01:03:00Z",
                }
            ],
        }
    template = cron["spec"]["jobTemplate"]["spec"]["template"]
    return {
        "kind": "Job",
        "apiVersion": "batch/v1",
        "metadata": {
            "name": f"{name}-{suffix}",
            "namespace": cron["metadata"]["namespace"],
            "labels": {"job-name": f"{name}-{suffix}"},
            "ownerReferences": [owner_ref(cron)],
        },
        "spec": {"backoffLimit": 6, "completions": 1, "parallelism": 1, "template": copy.deepcopy(template)},
        "status": status,
    }
