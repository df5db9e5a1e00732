"""API test helpers: a client that speaks JSON with a bearer token of the given scopes."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from django.test import Client

from changetrack.api.views import ChangeCreateView
from changetrack.models import ApiToken


class ApiClient:
    def __init__(self, client: Client, token: str | None):
        self.client = client
        self.token = token

    def _headers(self, extra: dict[str, str] | None) -> dict[str, str]:
        headers = {"HTTP_AUTHORIZATION": f"Bearer {self.token}"} if self.token else {}
        headers.update(extra or {})
        return headers

    def get(self, path: str, params: dict[str, Any] | None = None, **extra: str):
        return self.client.get(path, params or {}, **self._headers(extra))

    def post(self, path: str, body: Any, content_type: str = "application/json", **extra: str):
        data = body if isinstance(body, (bytes, str)) else json.dumps(body)
        return self.client.post(path, data, content_type=content_type, **self._headers(extra))


@pytest.fixture
def make_api(db, client, redis_client):
    def make(scopes: tuple[str, ...] = ("read", "write"), **kw: Any) -> ApiClient:
        token, clear = ApiToken.issue(kw.pop("name", "test"), list(scopes))
        if kw:
            ApiToken.objects.filter(pk=token.pk).update(**kw)
        return ApiClient(client, clear)

    return make


@pytest.fixture
def api(make_api) -> ApiClient:
    return make_api(("read", "write"))


#: the schema's documented example (so the example is a body the API accepts), with every optional field set
CHANGE = {
    **ChangeCreateView.examples[0].value,
    "actor": "dana@example.com",
    "severity": "info",
    "details": {"version": {"from": "2.13.2", "to": "2.14.0"}},
    "links": [{"title": "Release notes", "url": "https://example.com/r/2.14.0"}],
}
#: api.md's alert: the required fields, then the optional ones
ALERT = {
    "service": {"name": "data-processor", "namespace": "shop", "cluster": "prod-us"},
    "title": "Error rate above 5%",
    "timestamp": "2026-11-21T10:11:30Z",
    "details": {},
    "links": [],
    "severity": "critical",
    "status": "triggered",
    "external_id": "dd-cycle-5e1f0b8f",
}


def _body(defaults: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """A fresh copy of ``defaults`` with ``over`` applied (a test may change it in place); a value of ``...``
    leaves the key out."""
    return {k: v for k, v in copy.deepcopy({**defaults, **over}).items() if v is not ...}


def change(**over: Any) -> dict[str, Any]:
    return _body(CHANGE, over)


def alert(**over: Any) -> dict[str, Any]:
    return _body(ALERT, over)


def assert_problem(response, status: int, *fields: str) -> dict[str, Any]:
    """The response is a problem+json of ``status`` whose ``errors`` name exactly ``fields`` (when given)."""
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/problem+json")
    body = response.json()
    assert body["status"] == status and body["title"] and body["detail"] and body["type"]
    assert isinstance(body["errors"], list)
    if fields:
        assert sorted({e["field"] for e in body["errors"]}) == sorted(set(fields)), body["errors"]
    return body
