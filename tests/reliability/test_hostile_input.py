"""Hostile input to the webhook receiver of every registered integration: only 2xx/4xx, never a 5xx, nothing
stored from a rejected request, and nothing a sender can post wedges the pipeline.

Integrations are discovered from ``integrations.registry`` so vendor integrations added later are fuzzed too.
"""

from __future__ import annotations

import json
import secrets
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from changetrack.ingest import pipeline
from changetrack.models import Change, Connection, Delivery
from integrations import registry
from integrations.base import Integration, ParseError, UnsupportedEvent
from tests.reliability.conftest import report

pytestmark = pytest.mark.django_db
SLUGS = sorted(registry.INTEGRATIONS)
FUZZ = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
CASES: Counter[str] = Counter()
FIVE_XX: Counter[str] = Counter()

# --- strategies ----------------------------------------------------------------------------------------------

TRICKY_STRINGS = st.sampled_from(
    [
        "",
        " ",
        "\x00",
        "a\x00b",
        "\ud800",
        "\udfff",
        "²",
        "١٢٣",
        "0001-01-01T00:00:00+01:00",
        "9999-12-31T23:59:59-01:00",
        "2026-11-21T10:00:00",
        "2026-13-45T99:99:99Z",
        "1e400",
        "-1",
        "nan",
        "NaN",
        "Infinity",
        "9" * 500,
        "x" * 70_000,
        "<script>alert(1)</script>",
        "'; DROP TABLE changetrack_change; --",
        "%s%s%n",
        "\u202e",
        "🙂" * 100,
    ]
)
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=10**300, max_value=10**310),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=50),
    TRICKY_STRINGS,
)
JSON = st.recursive(
    SCALARS,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=10), inner, max_size=4)),
    max_leaves=20,
)
GENERIC_KEYS = [
    "type",
    "service",
    "kind",
    "summary",
    "timestamp",
    "external_id",
    "actor",
    "details",
    "status",
    "title",
    "severity",
]


def _dumps(value: Any) -> bytes:
    """JSON as a careless sender writes it: NaN/Infinity allowed, lone surrogates kept."""
    return json.dumps(value, allow_nan=True).encode("utf-8", "surrogatepass")


def deep(depth: int, kind: str) -> bytes:
    return (b'{"a":' * depth + b"1" + b"}" * depth) if kind == "object" else (b"[" * depth + b"]" * depth)


BODIES = st.one_of(
    st.binary(max_size=2000),
    JSON.map(_dumps),
    st.builds(deep, st.integers(min_value=900, max_value=20_000), st.sampled_from(["object", "array"])),
    st.binary(min_size=1, max_size=200).map(lambda b: b'{"type": "change", "x": "' + b + b'"}'),  # invalid UTF-8
)
CONTENT_TYPES = st.sampled_from(
    [
        "application/json",
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=xyz",
        "application/json; charset=latin-1",
        "",
    ]
)
SIGNATURE_HEADERS = [
    "X-Changetrack-Token",
    "X-Hub-Signature-256",
    "X-Hub-Signature",
    "X-Signature",
    "X-PagerDuty-Signature",
    "X-LD-Signature",
    "X-Datadog-Signature",
    "Authorization",
    "X-GitHub-Event",
    "X-GitHub-Delivery",
    "X-Opsgenie-Signature",
    "X-Request-Id",
]
HEADERS = st.dictionaries(
    st.sampled_from(SIGNATURE_HEADERS),
    st.one_of(
        st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=80), st.just("sha256=" + "0" * 64)
    ),
    max_size=4,
)


def _connection(slug: str) -> tuple[Connection, dict[str, str]]:
    """A connection for ``slug`` with a random value for every secret field of the integration."""
    integration = registry.get(slug)
    assert integration is not None
    clear: dict[str, str] = {}
    hashed: dict[str, str] = {}
    for f in integration.config_fields:
        if f.secret:
            (hashed if f.hashed else clear)[f.name] = secrets.token_hex(16)
    conn = Connection(integration=slug, name=f"fuzz {slug}", config={})
    conn.set_secrets(clear, hashed)
    conn.save()
    return conn, {**clear, **hashed}


def _meta(headers: dict[str, str]) -> dict[str, str]:
    return {"HTTP_" + k.upper().replace("-", "_"): v for k, v in headers.items()}


def _post(client: Client, path: str, body: bytes, content_type: str, headers: dict[str, str]) -> int:
    return client.generic("POST", path, body, content_type=content_type, **_meta(headers)).status_code


# --- every integration, unsigned or wrongly signed ----------------------------------------------------------


@pytest.mark.parametrize("slug", SLUGS)
@FUZZ
@given(body=BODIES, content_type=CONTENT_TYPES, headers=HEADERS)
def test_any_body_headers_and_content_type_to_any_integration_is_never_a_5xx_and_stores_nothing_when_rejected(
    slug: str, body: bytes, content_type: str, headers: dict[str, str]
):
    conn = _integration_connection(slug)
    before = Delivery.objects.count()
    status = _post(Client(), conn.webhook_path, body, content_type, headers)
    CASES[slug] += 1
    FIVE_XX[slug] += status >= 500
    assert status < 500
    if status >= 400:
        assert Delivery.objects.count() == before


_CONNECTIONS: dict[str, Connection] = {}


def _integration_connection(slug: str) -> Connection:
    """One connection per integration per test (hypothesis runs every example inside the same test)."""
    conn = _CONNECTIONS.get(slug)
    if conn is None or not Connection.objects.filter(pk=conn.pk).exists():
        conn, _ = _connection(slug)
        _CONNECTIONS[slug] = conn
    return conn


# --- the generic integration, correctly authenticated: mutations of a valid body ------------------------------

VALID = {
    "type": "change",
    "service": {"name": "api", "namespace": "shop", "cluster": "prod"},
    "kind": "deploy",
    "summary": "Deploy api",
    "timestamp": "2026-11-21T10:00:00Z",
    "external_id": "e1",
}


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    body: dict[str, Any] = dict(VALID)
    body["type"] = draw(st.sampled_from(["change", "alert", "change", "other"]))
    body["external_id"] = draw(st.one_of(st.uuids().map(str), TRICKY_STRINGS, SCALARS))
    for key in draw(st.lists(st.sampled_from(GENERIC_KEYS), max_size=4)):
        action = draw(st.sampled_from(["replace", "delete", "nest"]))
        if action == "delete":
            body.pop(key, None)
        elif action == "replace":
            body[key] = draw(JSON)
        else:
            body[key] = json.loads(deep(draw(st.integers(min_value=1, max_value=990)), "array"))
    if body.get("type") == "alert":
        body.setdefault("title", "High error rate")
        body.setdefault("status", draw(st.sampled_from(["triggered", "resolved", "bogus"])))
    try:
        return _dumps(body)
    except RecursionError:
        return b"[" * 5000


@FUZZ
@given(body=mutated(), content_type=CONTENT_TYPES)
def test_mutated_generic_payloads_with_a_valid_token_are_202_or_400_and_never_wedge_the_pipeline(
    redis_client, body: bytes, content_type: str
):
    conn = _integration_connection("generic")
    token = secrets.token_hex(8)
    conn.set_secrets({}, {"token": token})
    conn.save()
    before = Delivery.objects.count()
    status = _post(Client(), conn.webhook_path, body, content_type, {"X-Changetrack-Token": token})
    CASES["generic (signed, mutated)"] += 1
    FIVE_XX["generic (signed, mutated)"] += status >= 500
    assert status in (200, 202, 400), status
    if status == 400:
        assert Delivery.objects.count() == before
    pipeline.drain()  # must not raise: one bad delivery may fail, but never block the others
    assert not Delivery.objects.filter(status=Delivery.Status.PENDING).exists()


# --- parsers called directly: only ParseError / UnsupportedEvent may escape ----------------------------------


@pytest.mark.parametrize("slug", SLUGS)
@FUZZ
@given(payload=JSON, headers=HEADERS, event=st.one_of(st.text(max_size=20), st.none()))
def test_every_parser_raises_only_parse_error_or_unsupported_event_on_any_json(
    slug: str, payload: Any, headers: dict[str, str], event: str | None
):
    integration: Integration = registry.INTEGRATIONS[slug]
    CASES[f"{slug} (parsers)"] += 1
    try:
        event_type = integration.event_type(headers, payload)
    except ParseError:
        event_type = None
    for candidate in {event_type, event, *integration.parsers}:
        if candidate is None:
            continue
        try:
            integration.parse(candidate, payload, {})
        except (ParseError, UnsupportedEvent):
            pass


# --- explicit cases -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("slug", SLUGS)
@pytest.mark.parametrize("depth", [1001, 5000, 100_000])
def test_json_nested_deeper_than_1000_levels_is_a_400_not_a_500(slug: str, depth: int, redis_client):
    conn, secret_values = _connection(slug)
    headers = {"X-Changetrack-Token": secret_values.get("token", "")}
    for kind in ("object", "array"):
        status = _post(Client(), conn.webhook_path, deep(depth, kind), "application/json", headers)
        # integrations that verify a signature reject the unsigned body first (401); none may answer 5xx
        assert status == 400 if slug == "generic" else 400 <= status < 500


def test_invalid_utf8_and_non_json_bodies_are_400_with_nothing_stored(redis_client):
    conn, secret_values = _connection("generic")
    headers = {"X-Changetrack-Token": secret_values["token"]}
    for body in (b'{"type": "change\xff\xfe"}', b"\xc3\x28", b"not json", b"", b"{", b"null", b"[]", b'"x"'):
        assert _post(Client(), conn.webhook_path, body, "application/json", headers) == 400
    assert Delivery.objects.count() == 0


def test_a_body_over_the_limit_is_413_whatever_content_length_says(settings, redis_client):
    settings.WEBHOOK_MAX_BODY_BYTES = 1000
    conn, secret_values = _connection("generic")
    body = json.dumps({**VALID, "summary": "x" * 2000}).encode()
    response = Client().generic(
        "POST",
        conn.webhook_path,
        body,
        content_type="application/json",
        HTTP_X_CHANGETRACK_TOKEN=secret_values["token"],
    )
    assert response.status_code == 413
    assert Delivery.objects.count() == 0


@pytest.fixture(scope="module", autouse=True)
def _fuzz_figures():
    yield
    for name in sorted(CASES):
        report("fuzz", endpoint=name, cases=CASES[name], five_xx=FIVE_XX[name])


EDGE_CASES = {
    "nul in external_id": {**VALID, "external_id": "a\x00b"},
    "nul in event type": {**VALID, "type": "chan\x00ge"},
    "lone surrogate in external_id": {**VALID, "external_id": "\ud800"},
    "lone surrogate in summary": {**VALID, "summary": "\udfff"},
    "nul in summary": {**VALID, "summary": "a\x00b"},
    "nul in details": {**VALID, "details": {"k": "\x00"}},
    "integer timestamp too large for a float": {**VALID, "timestamp": 10**400},
    "superscript digit timestamp": {**VALID, "timestamp": "²"},
    "timestamp before year 1 in UTC": {**VALID, "timestamp": "0001-01-01T00:00:00+01:00"},
    "timestamp after year 9999 in UTC": {**VALID, "timestamp": "9999-12-31T23:59:59-01:00"},
    "NaN timestamp": {**VALID, "timestamp": float("nan")},
    "huge integer external_id": {**VALID, "external_id": 10**5000},
    "details nested 900 deep": {**VALID, "details": {"a": json.loads(deep(900, "array"))}},
}


@pytest.mark.parametrize("case", list(EDGE_CASES))
def test_edge_case_payloads_with_a_valid_token_are_answered_4xx_or_2xx_and_processed_or_failed(case, redis_client):
    conn, secret_values = _connection("generic")
    import sys

    sys.set_int_max_str_digits(0)  # let the test *write* the 5,000-digit integer; the server must cope reading it
    try:
        body = _dumps(EDGE_CASES[case])
    finally:
        sys.set_int_max_str_digits(4300)
    status = _post(
        Client(), conn.webhook_path, body, "application/json", {"X-Changetrack-Token": secret_values["token"]}
    )
    assert status in (202, 400), status
    pipeline.drain()
    assert not Delivery.objects.filter(status=Delivery.Status.PENDING).exists()
    if status == 400:
        assert Delivery.objects.count() == 0 and Change.objects.count() == 0


# --- parsers fed mutations of each integration's own sample payloads ------------------------------------------

FIXTURES = Path(__file__).resolve().parents[1] / "integrations"


def samples(slug: str) -> list[Any]:
    """Sample payloads: ``tests/integrations/<slug>/fixtures/*.json`` (the integrations' own fixtures)."""
    found = []
    for path in sorted((FIXTURES / slug / "fixtures").glob("*.json")):
        try:
            found.append(json.loads(path.read_text()))
        except (ValueError, OSError):
            continue  # a fixture that is deliberately not JSON
    if slug == "generic":
        found += [VALID, {**VALID, "type": "alert", "title": "High error rate", "status": "triggered"}]
    return found


@st.composite
def mutation_of(draw: st.DrawFn, value: Any) -> Any:
    """``value`` with random subtrees dropped, replaced by hostile JSON, or retyped."""
    roll = draw(st.integers(min_value=0, max_value=11))
    if roll == 0:
        return draw(JSON)
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, sub in value.items():
            action = draw(st.sampled_from(["keep", "keep", "keep", "drop", "mutate"]))
            if action != "drop":
                out[key] = draw(mutation_of(sub)) if action == "mutate" else sub
        return out
    if isinstance(value, list):
        return [draw(mutation_of(item)) for item in value if draw(st.integers(min_value=0, max_value=5))]
    if roll == 1:
        return draw(SCALARS)
    return value


SAMPLED = [slug for slug in SLUGS if samples(slug)]


@pytest.mark.parametrize("slug", SAMPLED)
@FUZZ
@given(data=st.data())
def test_every_parser_survives_mutations_of_its_own_sample_payloads(slug: str, data: st.DataObject):
    integration = registry.INTEGRATIONS[slug]
    payload = data.draw(mutation_of(data.draw(st.sampled_from(samples(slug)))))
    CASES[f"{slug} (parsers, mutated samples)"] += 1
    for event_type in {*integration.parsers, *integration.ignored_events}:
        try:
            integration.parse(event_type, payload, {})
        except (ParseError, UnsupportedEvent):
            pass
