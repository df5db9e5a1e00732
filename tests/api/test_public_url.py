"""Every URL the app shows or sends starts at ``PUBLIC_URL``, never at the ``Host`` a request carried."""

from __future__ import annotations

import pytest

from changetrack.management.commands.serve import public_url
from tests.api.conftest import change

pytestmark = pytest.mark.django_db
PUBLIC = "https://changetrack.example.com"


@pytest.fixture(autouse=True)
def _public_url(settings):
    settings.PUBLIC_URL = PUBLIC


def test_the_connection_pages_show_the_webhook_url_under_public_url(client, django_user_model, connection_factory):
    from changetrack.roles import set_role

    user = django_user_model.objects.create_user("admin-user", password="correct horse battery staple")
    set_role(user, "admin")
    client.force_login(user)
    conn = connection_factory("generic", hashed={"token": "t" * 32})

    detail = client.get(f"/integrations/{conn.pk}/").content.decode()

    assert f"{PUBLIC}/hooks/generic/{conn.pk}/" in detail
    assert "http://testserver" not in detail


def test_api_pagination_links_start_at_public_url(api):
    for n in range(3):
        assert api.post("/api/v1/changes", change(external_id=f"p{n}")).status_code in (200, 201)

    page = api.get("/api/v1/changes", {"limit": 2}).json()

    assert page["next"].startswith(f"{PUBLIC}/api/v1/changes?")


def test_serve_prints_and_passes_on_the_address_it_serves_unless_public_url_is_set(monkeypatch):
    monkeypatch.delenv("PUBLIC_URL", raising=False)
    assert public_url("127.0.0.1", 8765) == "http://127.0.0.1:8765"
    monkeypatch.setenv("PUBLIC_URL", PUBLIC)
    assert public_url("127.0.0.1", 8765) == PUBLIC
