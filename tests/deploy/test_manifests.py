"""The Kustomize install (deploy/kubernetes): every variant renders, every object is valid against the Kubernetes
schemas (strict: an unknown field fails), and the rendered objects keep the rules an install relies on."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import kubernetes_validate
import pytest
from kubernetes_validate.utils import ValidationError

from integrations.kubernetes.resources import RESOURCES
from tests.deploy import manifests as m

# the oldest Kubernetes the manifests promise (PDB policy/v1, autoscaling/v2 and sizeLimit are older) and the
# newest kubernetes-validate ships
SCHEMA_VERSIONS = ("1.30.0", "1.37.0")
ROLES = {"web", "worker", "beat", "collector", "migrate"}


@pytest.mark.parametrize("version", SCHEMA_VERSIONS)
@pytest.mark.parametrize("variant", sorted(m.VARIANTS))
def test_every_rendered_object_is_valid_against_the_kubernetes_schemas(variant, version):
    objects = m.render(variant)
    assert len(objects) >= (5 if variant == "collector-only" else 13)
    errors = []
    for obj in objects:
        try:
            kubernetes_validate.validate(obj, version, strict=True)
        except ValidationError as exc:
            errors.append(f"{obj['kind']}/{obj['metadata']['name']}: {exc.message} at {list(exc.path)}")
    assert errors == []


def test_a_strictly_invalid_object_is_caught_by_the_validation():
    web = {**m.one("base", "Service", "changetrack-web")}
    web["spec"] = {**web["spec"], "selectr": {"app": "typo"}}
    with pytest.raises(ValidationError):
        kubernetes_validate.validate(web, SCHEMA_VERSIONS[-1], strict=True)


@pytest.mark.parametrize("variant", m.FULL_INSTALLS)
def test_one_workload_runs_each_role_all_from_one_image(variant):
    roles = {o["metadata"]["labels"]["app.kubernetes.io/component"]: o["kind"] for o in m.workloads(variant)}
    assert roles == {"web": "Deployment", "worker": "Deployment", "beat": "Deployment", "collector": "Deployment"} | {
        "migrate": "Job"
    }
    images = {c["image"] for _, _, c in m.containers(variant)}
    assert len(images) == 1
    assert not images.pop().endswith(":latest")


@pytest.mark.parametrize("variant", sorted(m.VARIANTS))
def test_every_container_runs_as_non_root_on_a_read_only_root_without_privileges(variant):
    for obj, spec, container in m.containers(variant):
        where = f"{obj['kind']}/{obj['metadata']['name']}"
        pod, own = spec.get("securityContext", {}), container.get("securityContext", {})
        assert pod.get("runAsNonRoot") is True and pod.get("runAsUser") == 10001, where
        assert pod.get("seccompProfile") == {"type": "RuntimeDefault"}, where
        assert own.get("readOnlyRootFilesystem") is True, where
        assert own.get("allowPrivilegeEscalation") is False, where
        assert own.get("capabilities") == {"drop": ["ALL"]}, where
        assert "privileged" not in own and "runAsUser" not in own, where  # nothing overrides the pod's user
        tmp = next(v for v in spec["volumes"] if v["name"] == "tmp")
        assert "emptyDir" in tmp, where
        assert {"name": "tmp", "mountPath": "/tmp"} in container["volumeMounts"], where  # noqa: S108 - the emptyDir


@pytest.mark.parametrize("variant", sorted(m.VARIANTS))
def test_every_container_requests_cpu_and_memory_and_has_a_memory_limit(variant):
    for obj, _, container in m.containers(variant):
        resources = container.get("resources", {})
        assert {"cpu", "memory"} <= set(resources.get("requests", {})), obj["metadata"]["name"]
        assert "memory" in resources.get("limits", {}), obj["metadata"]["name"]


def test_the_web_container_is_probed_on_healthz_and_readyz_with_a_host_the_settings_allow():
    web = m.one("base", "Deployment", "changetrack-web")
    (container,) = m.pod_spec(web)["containers"]
    probes = {kind: container[kind]["httpGet"] for kind in ("startupProbe", "livenessProbe", "readinessProbe")}
    assert {k: p["path"] for k, p in probes.items()} == {
        "startupProbe": "/healthz",
        "livenessProbe": "/healthz",
        "readinessProbe": "/readyz",
    }
    allowed = m.environment("base", container)["ALLOWED_HOSTS"].split(",")
    for probe in probes.values():
        assert probe["port"] == "http" and {"name": "http", "containerPort": 8000} in container["ports"]
        # the kubelet sends the pod IP as Host, which ALLOWED_HOSTS would answer with 400
        assert [h["value"] for h in probe["httpHeaders"] if h["name"] == "Host"][0] in allowed


def test_only_the_http_role_is_probed_and_only_the_collector_gets_a_service_account_token():
    for obj, spec, container in m.containers("base"):
        role = obj["metadata"]["labels"]["app.kubernetes.io/component"]
        assert ("readinessProbe" in container) == (role == "web"), role
        assert spec["automountServiceAccountToken"] is (role == "collector"), role
        assert spec.get("serviceAccountName") == ("changetrack-collector" if role == "collector" else None), role


@pytest.mark.parametrize("variant", m.FULL_INSTALLS)
def test_beat_and_the_collector_run_exactly_once_and_are_recreated_not_rolled(variant):
    for name in ("changetrack-beat", "changetrack-collector"):
        deployment = m.one(variant, "Deployment", name)
        assert deployment["spec"]["replicas"] == 1
        assert deployment["spec"]["strategy"] == {"type": "Recreate"}
    scaled = {o["spec"]["scaleTargetRef"]["name"] for o in m.render(variant) if o["kind"] == "HorizontalPodAutoscaler"}
    assert scaled == {"changetrack-web", "changetrack-worker"}


def test_web_and_worker_scale_out_and_a_disruption_keeps_one_web_pod():
    for name in ("changetrack-web", "changetrack-worker"):
        hpa = m.one("base", "HorizontalPodAutoscaler", name)
        assert hpa["apiVersion"] == "autoscaling/v2"
        assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": name}
        assert 2 <= hpa["spec"]["minReplicas"] < hpa["spec"]["maxReplicas"]
    pdb = m.one("base", "PodDisruptionBudget", "changetrack-web")
    web = m.one("base", "Deployment", "changetrack-web")
    assert pdb["spec"]["selector"] == web["spec"]["selector"]
    assert pdb["spec"]["minAvailable"] == 1
    service = m.one("base", "Service", "changetrack-web")
    assert service["spec"]["selector"] == web["spec"]["selector"]["matchLabels"]


@pytest.mark.parametrize("variant", sorted(m.VARIANTS))
def test_the_collector_may_only_read(variant):
    roles = [o for o in m.render(variant) if o["kind"] in {"Role", "ClusterRole"}]
    assert roles
    for role in roles:
        assert {verb for rule in role["rules"] for verb in rule["verbs"]} == {"get", "list", "watch"}
        assert not any("*" in rule["resources"] or "*" in rule["apiGroups"] for rule in role["rules"])
    bindings = [o for o in m.render(variant) if o["kind"] in {"RoleBinding", "ClusterRoleBinding"}]
    assert {s["name"] for b in bindings for s in b["subjects"]} == {"changetrack-collector"}


def _grants(role: dict) -> set[tuple[str, str]]:
    return {(group, res) for rule in role["rules"] for group in rule["apiGroups"] for res in rule["resources"]}


def test_the_namespaced_collector_has_roles_exactly_in_the_namespaces_it_watches_and_no_cluster_role():
    objects = m.render("namespaced")
    assert not [o for o in objects if o["kind"] in {"ClusterRole", "ClusterRoleBinding"}]
    (container,) = m.pod_spec(m.one("namespaced", "Deployment", "changetrack-collector"))["containers"]
    args = container["args"]
    assert "--in-cluster" in args and "--namespaced-only" in args
    watched = {ns for a in args if a.startswith("--include-namespace=") for ns in a.split("=", 1)[1].split(",")}
    roles = {o["metadata"]["namespace"] for o in objects if o["kind"] == "Role"}
    bindings = {o["metadata"]["namespace"]: o for o in objects if o["kind"] == "RoleBinding"}
    assert watched == roles == set(bindings) and watched
    for binding in bindings.values():
        assert binding["roleRef"] == {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": "Role",
            "name": "changetrack-collector",
        }
        assert binding["subjects"] == [
            {"kind": "ServiceAccount", "name": "changetrack-collector", "namespace": "changetrack"}
        ]


def test_a_namespaced_role_grants_every_namespaced_type_the_collector_watches_and_nothing_else():
    cluster_role = m.one("base", "ClusterRole", "changetrack-collector")
    namespaced = {(rt.group, rt.plural) for rt in RESOURCES if rt.namespaced}
    assert _grants(cluster_role) == namespaced | {(rt.group, rt.plural) for rt in RESOURCES if not rt.namespaced}
    for role in (o for o in m.render("namespaced") if o["kind"] == "Role"):
        assert _grants(role) == namespaced


def test_secrets_come_only_from_the_existing_secret_and_none_is_rendered():
    for variant in m.VARIANTS:
        assert not [o for o in m.render(variant) if o["kind"] == "Secret"]
    for _, _, container in m.containers("base"):
        env = m.environment("base", container)
        secret_refs = {name: value for name, value in env.items() if value.startswith("secret:")}
        assert secret_refs == {n: f"secret:changetrack/{n}" for n in ("DATABASE_URL", "REDIS_URL", "SECRET_KEY")}


@pytest.mark.parametrize("variant", sorted(m.VARIANTS))
def test_every_variable_the_settings_require_in_production_is_provided_to_every_container(variant):
    required = m.required_in_production()
    assert {"DATABASE_URL", "REDIS_URL", "SECRET_KEY", "PUBLIC_URL", "ALLOWED_HOSTS"} <= required  # parsed at all
    for obj, _, container in m.containers(variant):
        env = m.environment(variant, container)
        assert required - set(env) == set(), obj["metadata"]["name"]
        assert env["DEBUG"] == "false" and env["LOG_FORMAT"] == "json"


def test_every_variable_the_manifests_set_is_one_changetrack_reads():
    known = set(m.settings_variables()) | m.process_variables() | set(m.readme_defaults())
    in_args = {
        container["name"] + ":" + a.split("$(", 1)[1].split(")", 1)[0]
        for _, _, container in m.containers("base")
        for a in container.get("args", [])
        if "$(" in a
    }
    assert in_args == {"changetrack:COLLECTOR_CLUSTER_NAME"}  # the collector's --cluster-name
    for obj, _, container in m.containers("base"):
        env = m.environment("base", container)
        assert set(env) - known - {"COLLECTOR_CLUSTER_NAME"} == set(), obj["metadata"]["name"]
        assert "COLLECTOR_CLUSTER_NAME" in env, obj["metadata"]["name"]


def test_the_rendered_configuration_starts_the_settings_in_production_mode_and_passes_check_deploy(tmp_path):
    (_, _, container) = next(c for c in m.containers("base") if c[0]["metadata"]["name"] == "changetrack-web")
    env = m.environment("base", container)
    secrets = {
        "DATABASE_URL": "postgres://changetrack:pw@postgres.example.internal:5432/changetrack",
        "REDIS_URL": "redis://redis.example.internal:6379/0",
        "SECRET_KEY": "k" * 20 + os.urandom(24).hex(),
    }
    env = {name: secrets.get(name, value) for name, value in env.items()}
    probe = (
        "import django; django.setup(); from django.conf import settings as s; "
        "print(s.DEBUG, s.EMBEDDED, s.PUBLIC_URL, s.SESSION_COOKIE_SECURE, s.SECURE_SSL_REDIRECT)"
    )
    base = {"PATH": os.environ["PATH"], "DJANGO_SETTINGS_MODULE": "changetrack.settings", "HOME": str(tmp_path)}
    run = subprocess.run(
        [sys.executable, "-c", probe], env=base | env, cwd=m.ROOT, capture_output=True, text=True, timeout=120
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.split() == ["False", "False", env["PUBLIC_URL"], "True", "True"]
    check = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        env=base | env,
        cwd=m.ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert check.returncode == 0, check.stdout + check.stderr


def test_the_first_upgrade_step_applies_exactly_the_configuration_and_the_migrate_job():
    # README: kubectl apply -k deploy/kubernetes -l 'app.kubernetes.io/component in (config,migrate)'
    selected = [
        (o["kind"], o["metadata"]["name"].rsplit("-", 1)[0] if o["kind"] == "ConfigMap" else o["metadata"]["name"])
        for o in m.render("base")
        if o["metadata"].get("labels", {}).get("app.kubernetes.io/component") in {"config", "migrate"}
    ]
    assert sorted(selected) == [("ConfigMap", "changetrack-config"), ("Job", "changetrack-migrate")]
    (container,) = m.pod_spec(m.one("base", "Job", "changetrack-migrate"))["containers"]
    assert container["args"] == ["migrate", "--noinput"]


def test_one_collector_can_read_several_clusters_from_a_mounted_kubeconfig():
    deployment = m.one("several-contexts", "Deployment", "changetrack-collector")
    spec = m.pod_spec(deployment)
    (container,) = spec["containers"]
    assert [a for a in container["args"] if a.startswith("--context=")] and "--in-cluster" not in container["args"]
    assert "--kubeconfig=/etc/changetrack/kubeconfig" in container["args"]
    assert {"name": "kubeconfig", "mountPath": "/etc/changetrack", "readOnly": True} in container["volumeMounts"]
    assert {"name": "kubeconfig", "secret": {"secretName": "changetrack-kubeconfig"}} in spec["volumes"]
    assert spec["automountServiceAccountToken"] is False


def test_a_further_cluster_gets_only_the_collector_under_its_own_cluster_name():
    kinds = sorted(
        (o["kind"], o["metadata"]["name"].rsplit("-", 1)[0] if o["kind"] == "ConfigMap" else o["metadata"]["name"])
        for o in m.render("collector-only")
    )
    assert kinds == [
        ("ClusterRole", "changetrack-collector"),
        ("ClusterRoleBinding", "changetrack-collector"),
        ("ConfigMap", "changetrack-config"),
        ("Deployment", "changetrack-collector"),
        ("ServiceAccount", "changetrack-collector"),
    ]
    (_, _, container) = next(m.containers("collector-only"))
    (first,) = m.pod_spec(m.one("base", "Deployment", "changetrack-collector"))["containers"]
    env = m.environment("collector-only", container)
    assert env["COLLECTOR_CLUSTER_NAME"] != m.environment("base", first)["COLLECTOR_CLUSTER_NAME"]
    assert "--cluster-name=$(COLLECTOR_CLUSTER_NAME)" in container["args"]


def test_the_readme_creates_the_secret_with_exactly_the_keys_the_manifests_read():
    install = (m.ROOT / "README.md").read_text().split("## Install on Kubernetes", 1)[1].split("\n## ", 1)[0]
    created = set(re.findall(r"--from-literal=([A-Z_]+)=", install))
    referenced = {
        var["valueFrom"]["secretKeyRef"]["key"]
        for _, _, container in m.containers("base")
        for var in container.get("env", [])
        if "valueFrom" in var
    }
    assert created == referenced
    assert "kubectl apply -k deploy/kubernetes -l 'app.kubernetes.io/component in (config,migrate)'" in install
