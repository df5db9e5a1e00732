"""The admin's "view on site" redirect (``/admin/r/<content type>/<object id>/``) answers 404, never a 500, for an id
the model's primary key cannot hold, an unknown object or an unknown content type."""

from __future__ import annotations

import uuid

import pytest
from django.contrib.contenttypes.models import ContentType
from django.urls import reverse

from changetrack.models import Change, Connection, Service

pytestmark = pytest.mark.django_db


def view_on_site(model: type, object_id: str) -> str:
    content_type = ContentType.objects.get_for_model(model).pk
    return reverse("admin:view_on_site", kwargs={"content_type_id": content_type, "object_id": object_id})


@pytest.mark.parametrize(
    ("model", "object_id"),
    [
        (Connection, "not-a-uuid"),  # a UUID primary key given text
        (Connection, "1"),
        (Connection, str(uuid.uuid4())),  # well formed, unknown
        (Change, "abc"),  # an integer primary key given text
        (Change, "99999999999999999999999"),  # past bigint
        (Service, "-1"),
        (Service, "1.5"),
        (Service, "%00"),
    ],
)
def test_an_id_the_model_cannot_hold_or_does_not_have_is_a_404(admin_client, model, object_id):
    response = admin_client.get(view_on_site(model, object_id))
    assert response.status_code == 404


@pytest.mark.parametrize("content_type", ["0", "999999", "99999999999999999999999"])
def test_an_unknown_content_type_is_a_404(admin_client, content_type):
    assert admin_client.get(f"/admin/r/{content_type}/1/").status_code == 404


def test_a_stored_object_without_a_page_is_a_404_and_a_non_staff_user_is_sent_to_log_in(admin_client, client):
    conn = Connection.objects.create(integration="generic", name="g")
    assert admin_client.get(view_on_site(Connection, str(conn.pk))).status_code == 404
    response = client.get(view_on_site(Connection, "not-a-uuid"))
    assert response.status_code == 302 and response["Location"].startswith("/admin/login/")
