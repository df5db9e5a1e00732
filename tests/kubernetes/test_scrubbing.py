"""Credentials in Kubernetes objects are never stored or shown, and rotating one is still a change with a diff
(finding 2 of issue 15): env values with URL userinfo, container arguments, annotations, and ConfigMap files
(``application.properties``, ``.env``, JSON, YAML), through the unmodified client, the fake API server, the
Celery worker and PostgreSQL."""

from __future__ import annotations

import copy
import secrets
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from changetrack.models import Change
from tests.database_text import all_database_text
from tests.kubernetes import objects as o
from tests.kubernetes.conftest import wait_for

pytestmark = pytest.mark.django_db(transaction=True)


def _marker(n: int) -> str:
    return f"PLANTED{n:02d}X{secrets.token_hex(5).upper()}"


def _config(m: list[str]) -> dict[str, str]:
    return {
        "application.properties": f"spring.datasource.password={m[0]}\nspring.datasource.url=jdbc:postgresql://db/app\n",
        ".env": f"API_KEY={m[1]}\nLOG_LEVEL=info\n",
        "config.json": '{"db": {"host": "db", "password": "' + m[2] + '"}}',
        "config.yaml": f"db:\n  host: db\n  password: {m[3]}\n",
    }


def _app(m: list[str]) -> dict[str, Any]:
    app = o.deployment(
        "app",
        env=[
            {"name": "DATABASE_URL", "value": f"postgres://app:{m[4]}@db.prod.svc.cluster.local:5432/app"},
            {"name": "CALLBACK", "value": f"https://hooks.example.com/cb?token={m[5]}"},
        ],
        volumes=[{"name": "app-config", "configMap": {"name": "app-config"}}],
        annotations={"example.com/deploy-token": m[6], "example.com/repo": f"https://ci:{m[7]}@git.example.com/a.git"},
    )
    app["spec"]["template"]["spec"]["containers"][0]["args"] = [f"--db-pass={m[8]}", "--api-token", m[9], "--v=2"]
    return app


def test_credentials_in_kubernetes_objects_are_stored_nowhere_and_a_rotation_is_a_change(fake, harness):
    first = [_marker(n) for n in range(10)]
    fake.load([_app(first), o.configmap("app-config", _config(first)), o.service("db", {"app": "db"})])
    harness.settle(harness.start())

    rotated = [_marker(n) for n in range(10, 20)]
    fake.apply(o.configmap("app-config", _config(rotated)), manager="kubectl-edit")
    config = wait_for(lambda: Change.objects.filter(kind="config").first(), what="config change")
    app = copy.deepcopy(_app(rotated))
    fake.apply(app, manager="kubectl-client-side-apply")
    deploy = wait_for(lambda: Change.objects.filter(kind__in=["deploy", "config"]).exclude(pk=config.pk).first())

    # the rotation shows: every file's diff has two different hashes where the password was
    by_path = {d["path"]: d for d in config.diff}
    assert set(by_path) == {"data.application.properties", "data..env", "data.config.json", "data.config.yaml"}
    for entry in by_path.values():
        assert entry["before"] != entry["after"] and "hmac-sha256:" in entry["after"]
    assert "spring.datasource.url=jdbc:postgresql://db/app" in by_path["data.application.properties"]["after"]
    assert deploy.diff, "the rotated env value and arguments are a change of the workload"

    user = get_user_model().objects.create_superuser("k8s-reader", password="x")
    web = Client()
    web.force_login(user)
    shown = "\n".join(web.get(path).content.decode() for path in ("/changes/", f"/changes/{config.pk}/"))
    shown += "\n".join(web.get(f"/changes/{c.pk}/").content.decode() for c in Change.objects.all())
    stored = all_database_text()
    assert [m for m in first + rotated if m in stored] == []
    assert [m for m in first + rotated if m in shown] == []
