"""One batch of observations applied by the collector's task, straight against PostgreSQL (no watch timing)."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

import pytest

from changetrack.collect.runtime import secret_hash_key
from changetrack.collect.tasks import apply_batch
from changetrack.models import Change, KubeObject
from integrations.kubernetes.normalize import digest, normalize
from integrations.kubernetes.translate import Observation
from tests.kubernetes import objects as o

pytestmark = pytest.mark.django_db(transaction=True)


def payload(raw: dict[str, Any], etype: str = "MODIFIED", baseline: bool = False, rv: int = 1) -> dict[str, Any]:
    raw = copy.deepcopy(raw)
    raw["metadata"].setdefault("resourceVersion", str(rv))
    state = normalize(raw, secret_hash_key(), raw["kind"])
    out = Observation(etype, state, datetime.now(UTC), baseline=baseline).as_payload()
    out["digest"] = digest(state)
    return out


def synced_rest_api_with_hpa() -> dict[str, Any]:
    """rest-api at 5 replicas and its HPA (which wants 5), stored by an initial sync."""
    api = o.deployment("rest-api", replicas=5)
    hpa = o.hpa("rest-api", "rest-api", 2, 10, 5)
    apply_batch("prod", [payload(api, "ADDED", True), payload(hpa, "ADDED", True)], {})
    return api


def test_a_replica_change_is_autoscale_when_the_hpa_decision_comes_later_in_the_same_batch():
    api = synced_rest_api_with_hpa()
    scaled = copy.deepcopy(api)
    scaled["spec"]["replicas"] = 7
    # the HPA controller updates the scale subresource first and its own status after; no managedFields here
    apply_batch("prod", [payload(scaled, rv=2), payload(o.hpa("rest-api", "rest-api", 2, 10, 7), rv=3)], {})
    change = Change.objects.get(service__name="rest-api")
    assert change.kind == "autoscale" and change.summary.endswith("5 → 7 by the HPA")


def test_a_replica_change_the_hpa_did_not_decide_is_a_scale():
    api = synced_rest_api_with_hpa()
    scaled = copy.deepcopy(api)
    scaled["spec"]["replicas"] = 1
    apply_batch("prod", [payload(scaled, rv=2)], {})
    change = Change.objects.get(service__name="rest-api")
    assert change.kind == "scale" and change.severity == "warning"


def test_a_batch_upserts_changed_states_and_deletes_vanished_ones_in_one_go():
    apply_batch("prod", [payload(o.configmap(f"cm-{i}", {"v": "0"}), "ADDED", True) for i in range(300)], {})
    changed = [payload(o.configmap(f"cm-{i}", {"v": "1"}), rv=2) for i in range(0, 300, 2)]
    gone = [payload(o.configmap(f"cm-{i}", {"v": "0"}), "DELETED", rv=3) for i in range(1, 300, 2)]
    result = apply_batch("prod", changed + gone, {"k8s:prod:configmaps": "3"})
    assert result["observations"] == 300 and result["skipped"] == 0
    assert KubeObject.objects.filter(cluster="prod", kind="ConfigMap").count() == 150
    assert set(KubeObject.objects.values_list("state__data__v", flat=True)) == {"1"}
    assert Change.objects.filter(kind="config").count() == 300
    again = apply_batch("prod", changed, {})  # a replay changes nothing
    assert again["skipped"] == 150 and Change.objects.count() == 300


def test_a_full_rederive_drops_kubernetes_edges_no_longer_named_and_keeps_declared_ones():
    from changetrack.collect.tasks import derive_dependencies
    from changetrack.ingest.store import store_records
    from changetrack.models import Dependency
    from integrations.base import DependencyRecord, ServiceHint

    services = [o.deployment(n) for n in ("rest-api", "cache")]
    env = [
        {"name": "REST_API_URL", "value": "http://rest-api.prod:8080"},
        {"name": "CACHE_HOST", "value": "cache"},
    ]
    web = o.deployment("web", env=env)
    apply_batch("prod", [payload(x, "ADDED", True) for x in [*services, web]], {})
    apply_batch("prod", [payload(o.service(n, {"app": n}), "ADDED", True) for n in ("rest-api", "cache")], {})
    apply_batch("prod", [{"type": "SYNCED"}], {})

    def edges() -> set[tuple[str, str]]:
        return set(Dependency.objects.values_list("depends_on__name", "provenance").filter(service__name="web"))

    assert edges() == {("rest-api", "kubernetes"), ("cache", "kubernetes")}
    declared = DependencyRecord(
        service=ServiceHint(name="web", namespace="prod", cluster="prod"),
        depends_on=ServiceHint(name="cache", namespace="prod", cluster="prod"),
        provenance="declared",
    )
    store_records([declared])
    moved = copy.deepcopy(web)
    moved["spec"]["template"]["spec"]["containers"][0]["env"] = env[:1]  # web no longer names the cache
    apply_batch("prod", [payload(moved, rv=5)], {})
    assert ("cache", "kubernetes") in edges()  # an event alone does not know the edge's other witnesses
    derive_dependencies("prod")
    assert edges() == {("rest-api", "kubernetes"), ("cache", "declared")}
