"""Schemathesis against the served OpenAPI schema: no 5xx for anything generated, and every answer (status,
content type, body) matches what the schema documents. Bounded: 25 examples per operation."""

from __future__ import annotations

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from django.test import override_settings
from hypothesis import HealthCheck, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from changetrack.models import ApiToken
from changetrack.wsgi import application

# loaded while the test module is collected, before a token or a user can exist: the schema is public meanwhile
with override_settings(API_SCHEMA_PUBLIC=True):
    schema = schemathesis.openapi.from_wsgi("/api/v1/schema?format=json", application)
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


@pytest.fixture
def keep_test_connection():
    """Django's own test client does this: the WSGI app must not close the test transaction's connection at the
    end of each request (``close_old_connections`` closes a connection that is inside a transaction)."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def bearer(db, redis_client, keep_test_connection) -> dict[str, str]:
    token, clear = ApiToken.issue("schemathesis", ["read", "write"])
    ApiToken.objects.filter(pk=token.pk).update(rate_limit_per_minute=1_000_000)
    return {"Authorization": f"Bearer {clear}"}


@schema.parametrize()
@settings(max_examples=25, deadline=None, database=None, suppress_health_check=list(HealthCheck))
def test_the_api_honours_its_schema_for_generated_requests(case, bearer):
    case.call_and_validate(headers=bearer, checks=CHECKS)
