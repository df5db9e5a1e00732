"""Changes pushed to Grafana as annotations: one POST per change, a PATCH of the same annotation when it is
updated, failures kept on the connection page, and Grafana's trouble never reaching ingestion."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from django.urls import reverse

from changetrack.ingest.store import store_records
from changetrack.models import Annotation, Change
from changetrack.notify import markers, sender
from changetrack.notify.transports import SendError
from integrations.base import ChangeRecord, ServiceHint
from tests.correlation.helpers import NOW
from tests.notify.fake_grafana import TOKEN, FakeGrafana
from tests.waiting import eventually


@pytest.fixture
def grafana() -> Iterator[FakeGrafana]:
    fake = FakeGrafana()
    yield fake
    fake.close()


@pytest.fixture
def conn(grafana, connection_factory):
    markers.forget()
    yield connection_factory(
        "grafana-annotations",
        name="grafana",
        clear={"token": TOKEN},
        config={"url": grafana.url, "extra_tags": "env:prod", "kinds": "deploy,config"},
    )
    markers.forget()


def rollout(status: str = "in_progress", summary: str = "Deploy checkout 2.14.0", kind: str = "deploy") -> int:
    rec = ChangeRecord(
        source="kubernetes",
        external_id=f"rollout-{kind}",
        kind=kind,
        occurred_at=NOW - timedelta(minutes=5),
        ended_at=NOW if status == "succeeded" else None,
        status=status,
        summary=summary,
        service=ServiceHint(name="checkout", namespace="shop", cluster="prod-us", create=True),
    )
    return store_records([rec]).changes[0][0]


def push(change_id: int) -> list[str]:
    return [markers.send(pk) for pk in markers.plan([change_id])]


@pytest.mark.django_db
def test_a_new_change_is_posted_once_and_an_update_patches_the_same_annotation(grafana, conn):
    change_id = rollout()
    assert push(change_id) == ["posted"]
    method, path, body = grafana.requests[0]
    assert (method, path) == ("POST", "/api/annotations")
    assert body["tags"] == [
        "changetrack",
        "service:checkout",
        "kind:deploy",
        "cluster:prod-us",
        "namespace:shop",
        "source:kubernetes",
        "env:prod",
    ]
    assert body["time"] == body["timeEnd"] == int((NOW - timedelta(minutes=5)).timestamp() * 1000)
    assert f"/changes/{change_id}/" in body["text"] and "Deploy checkout 2.14.0" in body["text"]
    assert "dashboardUID" not in body
    row = Annotation.objects.get()
    assert (row.annotation_id, row.status) == (1, "sent")
    assert push(change_id) == ["unchanged"] and len(grafana.requests) == 1
    rollout("succeeded", "Deploy checkout 2.14.0 (rolled out)")  # the same change, updated
    assert push(change_id) == ["updated"]
    method, path, body = grafana.requests[-1]
    assert (method, path) == ("PATCH", "/api/annotations/1")
    assert body["timeEnd"] == int(NOW.timestamp() * 1000) and "rolled out" in body["text"]
    assert len(grafana.annotations) == 1 and Annotation.objects.count() == 1


@pytest.mark.django_db
def test_an_annotation_deleted_in_grafana_is_created_again_and_its_new_id_kept(grafana, conn):
    change_id = rollout()
    push(change_id)
    grafana.annotations.clear()
    rollout(summary="Deploy checkout 2.14.1")
    assert push(change_id) == ["updated"]
    assert grafana.methods() == ["POST", "PATCH", "POST"]
    assert Annotation.objects.get().annotation_id == 1  # the fake numbers from its count again


@pytest.mark.django_db
def test_kinds_and_services_choose_the_changes_a_connection_annotates(grafana, conn):
    assert markers.plan([rollout(kind="feature_flag")]) == []
    conn.config = {**conn.config, "kinds": "", "services": "prod-us/shop/payments"}
    conn.save()
    markers.forget()
    assert markers.plan([rollout()]) == []
    conn.config = {**conn.config, "services": "shop/checkout", "dashboard_uid": "abc123"}
    conn.save()
    markers.forget()
    change_id = rollout(kind="config")
    assert push(change_id) == ["posted"] and grafana.requests[-1][2]["dashboardUID"] == "abc123"


@pytest.mark.django_db
def test_a_refused_token_is_not_retried_and_shows_on_the_connection_page(grafana, conn, client, django_user_model):
    from changetrack import roles

    grafana.token = "another"
    [pk] = markers.plan([rollout()])
    with pytest.raises(SendError) as refused:
        markers.send(pk)
    assert not refused.value.retry and "401" in str(refused.value)
    assert sender.keep_failure(Annotation, pk, refused.value, "notify.annotation.failed", "annotation") == 1
    assert Annotation.objects.get().status == "failed"
    viewer = django_user_model.objects.create_user("viewer")
    roles.set_role(viewer, roles.VIEWER)
    client.force_login(viewer)
    page = client.get(reverse("web:connection", args=[conn.pk])).content.decode()
    assert "Grafana refused the service account token (401)" in page
    assert ">Annotations</h2>" in page and "0 changes" in page and "Routing rules" not in page
    assert TOKEN not in page


@pytest.mark.django_db
def test_an_outage_and_a_rate_limit_are_retried_with_retry_after(grafana, conn):
    [pk] = markers.plan([rollout()])
    grafana.failures = [(503, {}), (429, {"Retry-After": "7"})]
    with pytest.raises(SendError) as down:
        markers.send(pk)
    assert down.value.retry and "503" in str(down.value)
    with pytest.raises(SendError) as limited:
        markers.send(pk)
    assert limited.value.retry and limited.value.after == 7.0
    assert markers.send(pk) == "posted" and len(grafana.annotations) == 1


@pytest.mark.django_db(transaction=True)
def test_through_the_worker_a_change_is_annotated_and_its_update_patched_while_grafana_down_blocks_nothing(
    grafana, conn, celery_worker
):
    grafana.failures = [(503, {})]  # the first attempt fails: the worker retries after its backoff
    change_id = rollout()
    assert Change.objects.filter(pk=change_id).exists()  # stored whatever Grafana answers
    assert eventually(lambda: Annotation.objects.filter(status="sent").exists())
    assert grafana.methods() == ["POST", "POST"]
    rollout("succeeded", "Deploy checkout 2.14.0 (rolled out)")
    assert eventually(lambda: grafana.methods()[-1:] == ["PATCH"])
    assert len(grafana.annotations) == 1 and "rolled out" in grafana.annotations[1]["text"]
    grafana.token = "revoked"  # a 401 from now on: ingestion goes on
    other = rollout(kind="config", summary="ConfigMap checkout edited")
    assert Change.objects.filter(pk=other).exists()
    assert eventually(lambda: Annotation.objects.filter(status="failed").exists())


@pytest.mark.django_db
def test_the_rows_are_written_with_the_changes_so_the_sweep_sends_them_when_the_broker_lost_the_task(grafana, conn):
    from changetrack.celery import app
    from changetrack.notify import tasks

    change_id = rollout()  # the test's transaction never commits: the after-commit enqueue never happens
    row = Annotation.objects.get(change_id=change_id)
    assert row.status == "pending" and grafana.requests == []
    Annotation.objects.filter(pk=row.pk).update(created_at=NOW - timedelta(minutes=2))
    eager = app.conf.task_always_eager
    app.conf.task_always_eager = True  # the sweep's tasks run here, as a worker would run them
    try:
        assert tasks.sweep() >= 1
    finally:
        app.conf.task_always_eager = eager
    assert grafana.methods() == ["POST"] and Annotation.objects.get(pk=row.pk).status == "sent"
