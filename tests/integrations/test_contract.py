"""The contract every registered integration keeps, checked over every fixture of every integration.

Discovery: ``tests/integrations/<slug>/fixtures/*.json`` (minus ``*.headers.json`` sidecars). The folder name
is the registry slug. The event type comes from ``integration.event_type(headers, payload)``, with the vendor
headers of the optional sidecar ``<name>.headers.json`` (e.g. ``{"X-GitHub-Event": "push"}``). A fixture whose
name contains ``unsupported`` or ``ignored`` must produce no records (or raise ``UnsupportedEvent``); one whose name
contains ``rejected`` is a body a vendor really sends that we refuse (``ParseError``: a 4xx with the reason); every
other fixture must produce at least one well-formed record and must not raise, so a fixture that silently stops
producing records fails here. Each integration with fixtures needs at least one unsupported-event fixture.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path

import pytest
from django.utils.datastructures import CaseInsensitiveMapping

from changetrack.models import Change, ChangeKind
from integrations import registry
from integrations.base import (
    CHANGE_KINDS,
    AlertRecord,
    ChangeRecord,
    DependencyRecord,
    ParseError,
    PullSource,
    ServiceHint,
    UnsupportedEvent,
)

ROOT = Path(__file__).parent
FIXTURES = sorted(p for p in ROOT.glob("*/fixtures/*.json") if not p.name.endswith(".headers.json"))
ALERT_STATUSES = {"triggered", "acknowledged", "resolved"}
SEVERITIES = {"critical", "error", "warning", "info"}


def _id(path: Path) -> str:
    return f"{path.parent.parent.name}/{path.stem}"


def _headers(path: Path) -> Mapping[str, str]:
    sidecar = path.with_name(f"{path.stem}.headers.json")
    return CaseInsensitiveMapping(json.loads(sidecar.read_text()) if sidecar.exists() else {})


def _check_record(record: object, slug: str) -> None:
    assert isinstance(record, (ChangeRecord, AlertRecord, DependencyRecord)), f"{slug}: not a record: {record!r}"
    if isinstance(record, DependencyRecord):
        assert isinstance(record.service, ServiceHint) and isinstance(record.depends_on, ServiceHint)
        return
    assert isinstance(record.service, ServiceHint)
    assert isinstance(record.source, str) and record.source
    assert isinstance(record.external_id, str) and record.external_id and len(record.external_id) <= 255
    assert isinstance(record.occurred_at, datetime) and record.occurred_at.tzinfo is not None
    assert record.severity in SEVERITIES
    if isinstance(record, AlertRecord):
        assert record.status in ALERT_STATUSES and record.title
    else:
        assert record.summary and record.kind


def test_every_integration_with_fixtures_is_registered():
    folders = {p.parent.parent.name for p in FIXTURES}
    assert folders <= set(registry.INTEGRATIONS), (
        f"fixtures for unregistered integrations: {folders - set(registry.INTEGRATIONS)}"
    )


def _expects_rejection(path: Path) -> bool:
    return "rejected" in path.stem


def _expects_no_records(path: Path) -> bool:
    return "unsupported" in path.stem or "ignored" in path.stem


def _raises_unsupported(path: Path) -> bool:
    if _expects_rejection(path):
        return False
    integration = registry.get(path.parent.parent.name)
    payload = json.loads(path.read_bytes())
    try:
        integration.parse(integration.event_type(_headers(path), payload), payload, {})
    except UnsupportedEvent:
        return True
    return False


def test_every_integration_with_fixtures_has_an_unsupported_event_fixture():
    with_fixtures = {p.parent.parent.name for p in FIXTURES}
    have = {
        p.parent.parent.name
        for p in FIXTURES
        if p.parent.parent.name in registry.INTEGRATIONS and _raises_unsupported(p)
    }
    assert with_fixtures <= have, f"no fixture of an unsupported event for {sorted(with_fixtures - have)}"


@pytest.mark.parametrize("path", FIXTURES, ids=_id)
def test_every_fixture_parses_to_well_formed_records(path: Path):
    slug = path.parent.parent.name
    integration = registry.get(slug)
    assert integration is not None, f"no integration registered as {slug!r}"
    payload = json.loads(path.read_bytes())
    headers = _headers(path)
    if _expects_rejection(path):
        with pytest.raises(ParseError):
            integration.parse(integration.event_type(headers, payload), payload, {})
        return
    event_type = integration.event_type(headers, payload)
    assert isinstance(event_type, str) and event_type
    key = integration.delivery_key(headers, path.read_bytes(), payload)
    assert isinstance(key, str) and key
    if _expects_no_records(path):
        try:
            records = integration.parse(event_type, payload, {})
        except UnsupportedEvent:
            return  # stored as ignored, answered 202
        assert records == [], f"{_id(path)} is named unsupported/ignored but produced records"
        return
    records = integration.parse(event_type, payload, {})  # UnsupportedEvent here fails: the name says supported
    assert records, f"{_id(path)} produced no records"
    for record in records:
        _check_record(record, slug)


@pytest.mark.parametrize("slug", sorted(s for s in registry.INTEGRATIONS if s != "generic"))
def test_every_vendor_integration_documents_its_setup_and_config(slug: str):
    integration = registry.get(slug)
    assert integration.setup_instructions.strip()
    for field in integration.config_fields:
        assert not field.hashed or field.secret, f"{slug}.{field.name}: a hashed field must be secret"
    if getattr(integration, "pushes", False):  # a push destination (Slack, outgoing webhook) emits no records
        assert integration.label and integration.target_field in {f.name for f in integration.config_fields}
        return
    assert integration.label and integration.emits
    if isinstance(integration, PullSource):  # polled only (tracing backends): no webhook, so nothing to parse
        assert integration.can_poll and not integration.parsers
        return
    assert integration.parsers, f"{slug} has no parsers"


@pytest.mark.parametrize("slug", sorted(registry.INTEGRATIONS))
def test_no_parser_crashes_on_a_body_of_the_wrong_shape(slug: str):
    integration = registry.get(slug)
    for event_type in integration.parsers:
        for payload in ([], None, "text", 3, {}, {"unexpected": {"nested": [1, 2]}}):
            try:
                integration.parse(event_type, payload, {})
            except (ParseError, UnsupportedEvent):
                continue


def test_the_database_accepts_exactly_the_change_kinds_of_the_contract_in_its_order():
    assert ChangeKind.values == list(CHANGE_KINDS)
    kind_field = Change._meta.get_field("kind")
    assert [value for value, _ in kind_field.choices] == list(CHANGE_KINDS)
