"""Tokens: bearer auth over hashed tokens, scopes per endpoint, revocation, last use, Redis rate limit."""

from __future__ import annotations

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from changetrack import roles
from changetrack.models import ApiToken, Change
from changetrack.models.tokens import hash_token
from tests.api.conftest import ApiClient, assert_problem, change

pytestmark = pytest.mark.django_db


def test_create_api_token_prints_the_token_alone_on_the_last_line_and_stores_only_its_hash():
    out = StringIO()
    call_command("create_api_token", "deploy pipeline", "--scopes", "read,write", stdout=out)
    clear = out.getvalue().strip().splitlines()[-1]
    assert clear.startswith("ct_") and " " not in clear
    token = ApiToken.objects.get(name="deploy pipeline")
    assert token.key_hash == hash_token(clear) and clear not in str(token.__dict__)
    assert token.scopes == ["read", "write"]


def test_the_printed_token_authenticates(client, redis_client):
    out = StringIO()
    call_command("create_api_token", "reader", "--scopes", "read", stdout=out)
    api = ApiClient(client, out.getvalue().strip().splitlines()[-1])
    assert api.get("/api/v1/changes").status_code == 200


def test_create_api_token_refuses_an_unknown_scope_clearly():
    with pytest.raises(CommandError, match="unknown scope.*superuser.*valid scopes are: read, write, admin"):
        call_command("create_api_token", "x", "--scopes", "read,superuser", stdout=StringIO())
    assert not ApiToken.objects.exists()


def test_a_request_without_a_token_is_401(client, redis_client):
    response = ApiClient(client, None).get("/api/v1/changes")
    body = assert_problem(response, 401)
    assert "token" in body["detail"].lower()
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_an_unknown_token_is_401_and_stores_nothing(client, redis_client):
    response = ApiClient(client, "ct_not-a-real-token").post("/api/v1/changes", change())
    assert_problem(response, 401)
    assert not Change.objects.exists()


def test_a_non_bearer_authorization_header_is_401(client, redis_client):
    response = client.get("/api/v1/changes", HTTP_AUTHORIZATION="Basic dXNlcjpwYXNz")
    assert_problem(response, 401)


def test_a_revoked_token_is_401(make_api):
    api = make_api(("read",), revoked_at=timezone.now())
    body = assert_problem(api.get("/api/v1/changes"), 401)
    assert "revoked" in body["detail"]


def test_a_read_token_cannot_write_403_and_nothing_is_stored(make_api):
    api = make_api(("read",))
    body = assert_problem(api.post("/api/v1/changes", change()), 403)
    assert "'write' scope" in body["detail"]
    assert not Change.objects.exists()


def test_a_write_only_token_cannot_read_403(make_api):
    body = assert_problem(make_api(("write",)).get("/api/v1/changes"), 403)
    assert "'read' scope" in body["detail"]


def test_an_admin_token_may_read_and_write(make_api):
    api = make_api(("admin",))
    assert api.post("/api/v1/changes", change()).status_code == 201
    assert api.get("/api/v1/changes").status_code == 200


def test_last_used_at_is_recorded_but_written_at_most_once_a_minute(make_api):
    api = make_api(("read",))
    token = ApiToken.objects.get()
    assert token.last_used_at is None
    api.get("/api/v1/services")
    first = ApiToken.objects.get().last_used_at
    assert first is not None
    api.get("/api/v1/services")
    assert ApiToken.objects.get().last_used_at == first
    ApiToken.objects.filter(pk=token.pk).update(last_used_at=timezone.now() - timedelta(minutes=2))
    api.get("/api/v1/services")
    assert ApiToken.objects.get().last_used_at > first


def test_a_token_over_its_rate_limit_gets_429_with_retry_after(make_api, redis_client):
    api = make_api(("read",), rate_limit_per_minute=3)
    codes = [api.get("/api/v1/services").status_code for _ in range(3)]
    assert codes == [200, 200, 200]
    response = api.get("/api/v1/services")
    assert_problem(response, 429)
    assert 1 <= int(response["Retry-After"]) <= 60
    assert any(k.startswith(b"changetrack:api:rate:") for k in redis_client.keys())


def test_the_rate_limit_is_per_token(make_api):
    limited = make_api(("read",), rate_limit_per_minute=1)
    other = make_api(("read",), name="other")
    assert limited.get("/api/v1/services").status_code == 200
    assert limited.get("/api/v1/services").status_code == 429
    assert other.get("/api/v1/services").status_code == 200


def test_the_schema_and_docs_are_served_to_a_viewer(client, django_user_model):
    viewer = django_user_model.objects.create_user("reader")
    roles.set_role(viewer, roles.VIEWER)
    client.force_login(viewer)
    schema = client.get("/api/v1/schema", {"format": "json"})
    assert schema.status_code == 200
    paths = schema.json()["paths"]
    for path in (
        "/api/v1/changes",
        "/api/v1/alerts",
        "/api/v1/dependencies",
        "/api/v1/services",
        "/api/v1/services/{id}",
        "/api/v1/services/{id}/timeline",
        "/api/v1/changes/{id}",
        "/api/v1/alerts/{id}",
        "/api/v1/alerts/{id}/suspects",
        "/api/v1/alerts/{id}/feedback",
    ):
        assert path in paths, path
    assert client.get("/api/docs").status_code == 200
