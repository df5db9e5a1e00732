"""Rotating SECRET_KEY re-keys the hashes of Secret values. With the old key in SECRET_KEY_FALLBACKS the collector
recognises an unchanged Secret hashed under it and stores the new hashes without recording a change; without it,
the relist records every hashed Secret as changed once (what the README's rotation steps avoid)."""

from __future__ import annotations

import base64
import secrets

import pytest

from changetrack.collect.runtime import secret_hash_key
from changetrack.collect.tasks import RESYNC_KEY
from changetrack.models import Change, KubeObject, Watermark
from integrations.kubernetes.normalize import keyed_hash
from tests.kubernetes import objects as o
from tests.kubernetes.conftest import wait_for

pytestmark = pytest.mark.django_db(transaction=True)
OLD, NEW = secrets.token_urlsafe(50), secrets.token_urlsafe(50)


def _b64(value: str) -> str:
    return base64.b64encode(value.encode()).decode()


def _stored_hash(name: str) -> str:
    return KubeObject.objects.get(kind="Secret", name="shop-creds").state["data"][name]["redacted"]


def _rotate(fake, harness, settings, fallbacks: list[str]) -> None:
    """Sync under OLD, stop; restart under NEW with ``fallbacks`` and ask for a relist, as the periodic resync
    (``resync_kubernetes``) does."""
    settings.SECRET_KEY, settings.SECRET_KEY_FALLBACKS = OLD, []
    fake.load([o.secret("shop-creds", {"password": _b64("p4ss-1"), "user": _b64("app")})])
    harness.settle(harness.start())
    assert _stored_hash("user") == keyed_hash(_b64("app"), secret_hash_key(OLD))
    harness.stop_all()
    settings.SECRET_KEY, settings.SECRET_KEY_FALLBACKS = NEW, fallbacks
    harness.start(resync_poll=0.2)
    Watermark.objects.update_or_create(key=RESYNC_KEY.format(cluster="prod"), defaults={"value": "after-rotation"})


def test_with_the_old_key_as_a_fallback_a_rotation_re_keys_secret_hashes_without_recording_changes(
    fake, harness, settings
):
    _rotate(fake, harness, settings, fallbacks=[OLD])
    new_hash = keyed_hash(_b64("app"), secret_hash_key(NEW))
    wait_for(lambda: _stored_hash("user") == new_hash, 30, "the stored hashes to be re-keyed")
    assert not Change.objects.filter(kind="secret").exists()

    fake.apply(o.secret("shop-creds", {"password": _b64("p4ss-2"), "user": _b64("app")}))  # a real change after

    change = wait_for(lambda: Change.objects.filter(kind="secret").first(), 30, "the real change")
    assert [d["path"] for d in change.diff] == ["data.password"]  # compared like with like: only what changed


def test_without_the_fallback_the_relist_after_a_rotation_records_each_hashed_secret_once(fake, harness, settings):
    _rotate(fake, harness, settings, fallbacks=[])

    change = wait_for(lambda: Change.objects.filter(kind="secret").first(), 30, "the re-keyed secret")
    assert sorted(d["path"] for d in change.diff) == ["data.password", "data.user"]
