"""Rotating ``SECRET_KEY``: the old key in ``SECRET_KEY_FALLBACKS`` keeps sessions and connection secrets readable,
and ``manage.py rotate_secrets`` re-encrypts every connection's secrets under the new key."""

from __future__ import annotations

import secrets
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from changetrack import roles

pytestmark = pytest.mark.django_db
OLD, NEW, OTHER = (secrets.token_urlsafe(50) for _ in range(3))


def _rotate() -> str:
    out = StringIO()
    call_command("rotate_secrets", stdout=out)
    return out.getvalue()


def test_connection_secrets_written_under_the_old_key_are_read_under_a_fallback(settings, connection_factory):
    settings.SECRET_KEY = OLD
    conn = connection_factory("github", clear={"webhook_secret": "s3cret"})
    settings.SECRET_KEY, settings.SECRET_KEY_FALLBACKS = NEW, [OLD]

    assert conn.secret_store().get("webhook_secret") == "s3cret"


def test_rotate_secrets_re_encrypts_every_connection_under_the_new_key(settings, connection_factory):
    settings.SECRET_KEY = OLD
    github = connection_factory("github", clear={"webhook_secret": "s3cret"})
    connection_factory("generic", hashed={"token": "t" * 32})  # hashed only: nothing to re-encrypt
    settings.SECRET_KEY, settings.SECRET_KEY_FALLBACKS = NEW, [OLD]

    output = _rotate()

    assert "Re-encrypted the secrets of 1 connection(s) under SECRET_KEY." in output
    assert "SHA-256" in output and "Kubernetes Secret value hashes" in output
    settings.SECRET_KEY_FALLBACKS = []  # the old key is gone for good
    github.refresh_from_db()
    assert github.secret_store().get("webhook_secret") == "s3cret"


def test_rotate_secrets_names_connections_no_configured_key_can_read(settings, connection_factory):
    settings.SECRET_KEY = OTHER
    lost = connection_factory("github", name="lost one", clear={"webhook_secret": "s3cret"})
    settings.SECRET_KEY, settings.SECRET_KEY_FALLBACKS = NEW, [OLD]
    before = lost.secrets_encrypted

    with pytest.raises(CommandError, match=f"1 connection.*lost one \\(github, {lost.pk}\\)"):
        _rotate()
    lost.refresh_from_db()
    assert lost.secrets_encrypted == before  # left as it was: adding its key to the fallbacks still recovers it


@pytest.mark.parametrize("fallbacks, status", [([OLD], 200), ([], 302)])
def test_a_session_from_before_the_rotation_survives_only_while_the_old_key_is_a_fallback(
    settings, client, django_user_model, fallbacks, status
):
    settings.SECRET_KEY = OLD
    oncall = django_user_model.objects.create_user("oncall", password="correct horse battery staple")
    roles.set_role(oncall, roles.VIEWER)
    client.force_login(oncall)
    settings.SECRET_KEY, settings.SECRET_KEY_FALLBACKS = NEW, fallbacks

    assert client.get("/").status_code == status  # 302: back to the login page


def test_a_webhook_to_a_connection_whose_secrets_no_key_can_read_is_a_503_not_a_500(
    settings, client, connection_factory
):
    settings.SECRET_KEY = OTHER
    lost = connection_factory("github", clear={"webhook_secret": "s3cret"})
    settings.SECRET_KEY, settings.SECRET_KEY_FALLBACKS = NEW, [OLD]

    answer = client.post(f"/hooks/github/{lost.pk}/", data=b"{}", content_type="application/json")

    assert answer.status_code == 503
    assert answer["Content-Type"] == "application/problem+json"
    assert "SECRET_KEY" in answer.json()["detail"]
