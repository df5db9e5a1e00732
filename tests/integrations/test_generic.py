"""The generic JSON webhook names services the way the REST API does."""

from __future__ import annotations

import pytest

from integrations.base import ParseError
from integrations.generic import parse_alert, parse_change

CHANGE = {"kind": "config", "summary": "Raise pool size", "timestamp": "2026-11-21T10:04:00Z", "external_id": "c1"}


@pytest.mark.parametrize(
    ("ref", "expected"),
    [
        ("checkout", ("", "", "checkout")),
        ("shop/checkout", ("", "shop", "checkout")),
        ("prod-us/shop/checkout", ("prod-us", "shop", "checkout")),
        ({"name": "checkout", "namespace": "shop"}, ("", "shop", "checkout")),
    ],
)
def test_a_service_is_a_name_a_path_or_an_object(ref, expected):
    (record,) = parse_change({**CHANGE, "service": ref}, {})
    assert (record.service.cluster, record.service.namespace, record.service.name) == expected
    assert record.service.create


@pytest.mark.parametrize("ref", ["a/b/c/d", "shop/", "", 42])
def test_a_bad_service_reference_is_a_parse_error_naming_the_field(ref):
    with pytest.raises(ParseError, match="service"):
        parse_alert(
            {
                "status": "triggered",
                "title": "t",
                "timestamp": "2026-11-21T10:04:00Z",
                "external_id": "a1",
                "service": ref,
            },
            {},
        )


@pytest.mark.parametrize("field", ["namespace", "cluster"])
@pytest.mark.parametrize("value", [{"a": 1}, ["shop"], 7])
def test_a_namespace_or_cluster_that_is_not_a_string_is_a_parse_error(field, value):
    with pytest.raises(ParseError, match=f"service.{field}"):
        parse_change({**CHANGE, "service": {"name": "checkout", field: value}}, {})
