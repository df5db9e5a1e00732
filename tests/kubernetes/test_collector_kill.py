"""The real ``collect_kubernetes`` process SIGKILLed in the middle of a watch burst, then restarted.

A batch's changes and the checkpoint it reached are committed in one transaction, so whatever the kill
interrupts is redone on restart (from the checkpoint, or by a relist when the checkpoint has been compacted
away) and stored once. Both recovery paths are run: ``resume`` replays the watch from the checkpoint,
``relist`` compacts the fake's history while the collector is down so the restart must relist and diff.
"""

from __future__ import annotations

import copy
import time
from collections import Counter
from pathlib import Path

import pytest
from django.conf import settings

from changetrack.models import Change, KubeObject
from tests.kubernetes import objects as o
from tests.kubernetes.conftest import collector_process, wait_for
from tests.reliability import procs

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

DEPLOYMENTS = 500
ROUNDS_BEFORE_KILL = 4  # 2,000 image edits in the burst the collector is killed in
DELETED_WHILE_DOWN = 25


def _image(i: int, round_: int) -> str:
    return f"registry.example.com/burst/app-{i}:r{round_}"


def _collector(fake, tmp_path: Path, n: int) -> procs.Proc:
    return collector_process(fake, tmp_path, n, settings.REDIS_URL, "--no-celery", "--watch-timeout", "5")


def _expected(generations: dict[str, int]) -> Counter[str]:
    """One deploy change per generation after the first (the baseline sync stores none)."""
    return Counter(f"prod/Deployment/burst/app-{i}/{g}" for i, last in generations.items() for g in range(2, last + 1))


@pytest.mark.parametrize("recovery", ["resume", "relist"])
def test_a_collector_killed_mid_burst_and_restarted_stores_every_change_once_and_sees_deletions(
    fake, redis_client, tmp_path, recovery
):
    deployments = [o.deployment(f"app-{i}", namespace="burst", image=_image(i, 0)) for i in range(DEPLOYMENTS)]
    fake.load(copy.deepcopy(deployments))
    first = _collector(fake, tmp_path, 1)
    try:
        wait_for(lambda: KubeObject.objects.filter(kind="Deployment").count() == DEPLOYMENTS, 60, "the initial sync")
        generations = dict.fromkeys(range(DEPLOYMENTS), 1)
        for round_ in range(1, ROUNDS_BEFORE_KILL + 1):
            for i, d in enumerate(deployments):
                d["spec"]["template"]["spec"]["containers"][0]["image"] = _image(i, round_)
                fake.apply(d, manager="kubectl-set")
                generations[i] += 1
        total = sum(_expected(generations).values())
        # kill while the burst is being stored: some of it committed, the rest read or in flight
        wait_for(lambda: Change.objects.count() >= total // 5, 60, "part of the burst to be stored")
        first.kill()  # SIGKILL to the process group
    finally:
        first.kill()
    time.sleep(0.5)  # the server notices the dropped connection and rolls the open batch back
    before_restart = Counter(Change.objects.values_list("external_id", flat=True))
    stored_at_kill = sum(before_restart.values())
    assert 0 < stored_at_kill < total, f"the kill was not mid-burst ({stored_at_kill}/{total} stored)"

    # while it is down: one more edit on some, deletions of others (each object changes once, so even a
    # relist, which only sees the latest state, has every generation to observe)
    deleted = set(range(DEPLOYMENTS - DELETED_WHILE_DOWN, DEPLOYMENTS))
    for i in range(0, DEPLOYMENTS - DELETED_WHILE_DOWN, 2):
        d = deployments[i]
        d["spec"]["template"]["spec"]["containers"][0]["image"] = _image(i, 99)
        fake.apply(d, manager="kubectl-set")
        generations[i] += 1
    for i in deleted:
        fake.delete("Deployment", "burst", f"app-{i}")
    expected = _expected(generations)
    if recovery == "relist":
        fake.compact()  # the stored checkpoint is now too old: the restart gets ERROR 410 and relists
        # history is gone, so generations neither stored before the kill nor current cannot be seen by anyone
        # (kubectl included): expected is what was stored plus each surviving object's current generation
        latest = {f"prod/Deployment/burst/app-{i}/{g}" for i, g in generations.items() if i not in deleted}
        expected = Counter({ext: 1 for ext in expected if ext in before_restart or ext in latest})
    lists_before = sum(1 for r in fake.requests if "watch" not in r)

    second = _collector(fake, tmp_path, 2)
    try:
        done = lambda: (  # noqa: E731
            Change.objects.filter(kind="deploy").count() >= sum(expected.values())
            and Change.objects.filter(kind="infra").count() >= len(deleted)
        )
        try:
            wait_for(done, 60, "every change and deletion to be stored")
        except AssertionError:
            raise AssertionError(
                f"stored {Change.objects.count()} of {sum(expected.values()) + len(deleted)};"
                f" log: {second.output()[-2000:]}"
            ) from None
        time.sleep(1.5)  # anything still in flight (a duplicate would arrive now) gets its chance to land
    finally:
        second.stop()

    stored = Counter(Change.objects.filter(kind="deploy").values_list("external_id", flat=True))
    assert stored == expected  # no gaps, no duplicates: one change per object and generation
    if recovery == "resume":
        assert sum(stored.values()) == 2_000 + 238  # the burst + the edits while down
    assert all(n == 1 for n in before_restart.values())
    infra = Counter(Change.objects.filter(kind="infra").values_list("summary", flat=True))
    assert infra == Counter(f"Deployment app-{i} deleted" for i in deleted)
    assert Change.objects.count() == sum(expected.values()) + len(deleted)
    assert not KubeObject.objects.filter(kind="Deployment", name__in=[f"app-{i}" for i in deleted]).exists()
    relisted = sum(1 for r in fake.requests if "watch" not in r) > lists_before
    assert relisted == (recovery == "relist")
    print(
        f"\n[kill] {recovery}: stored at kill {stored_at_kill}/{total}, after restart {sum(stored.values())}"
        f" deploy changes + {len(deleted)} deletions"
    )
