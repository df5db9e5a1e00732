"""The fast validation path accepts only what the serializers accept, and returns what they return.

Hypothesis generates items mixing valid values with the edge cases each field type has (blank and padded
strings, NUL and lone surrogates, lengths at and over the limit, wrong types, nulls, missing and unknown keys);
for each, the fast check must either step aside (``Unsure``) or agree with DRF exactly.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from changetrack.api import fastcheck
from changetrack.api.serializers import (
    AlertInSerializer,
    ChangeInSerializer,
    DependencyInSerializer,
    DiffEntrySerializer,
    LinkSerializer,
)

Field = tuple[st.SearchStrategy[Any], st.SearchStrategy[Any]]  # (valid values, odd values)

ODD_STRINGS = st.sampled_from(["", " ", "  padded  ", "\x00", "a\x00b", "\ud800", "x\udfff", "é", "😀", "\t\n"])
ODD_TYPES = st.sampled_from([None, 0, 1.5, True, [], {}, "true"])


def text(limit: int) -> Field:
    edges = st.sampled_from(["x" * limit, "x" * (limit + 1), " " + "x" * limit + " ", "é" * (limit + 1)])
    return st.text(min_size=1, max_size=8), st.one_of(ODD_STRINGS, edges, ODD_TYPES, st.text(max_size=4))


def choice(valid: list[str], odd: list[Any]) -> Field:
    return st.sampled_from(valid), st.sampled_from([*odd, None, 1, ""])


MOMENT: Field = (
    st.sampled_from(["2026-11-21T10:04:00Z", "2026-11-21T10:04:00+02:00", " 2026-11-21T10:04:00.5z "]),
    st.sampled_from(["2026-11-21T10:04:00", "yesterday", "", None, 17, "1969-12-31T23:59:59Z", "9999-12-31T23:59Z"]),
)
SERVICE: Field = (
    st.one_of(
        st.sampled_from(["checkout", " api "]),
        st.fixed_dictionaries({"name": st.just("a")}, optional={"namespace": text(253)[0], "cluster": text(100)[0]}),
    ),
    st.one_of(
        ODD_TYPES,
        ODD_STRINGS,
        st.sampled_from([{"name": "a", "x": 1}, {"namespace": "a"}, {"name": 1}, {"name": "a", "cluster": "c" * 101}]),
    ),
)
OBJECT: Field = (st.sampled_from([{}, {"a": 1}, {"n": {"x": [1, 2]}}]), st.sampled_from([None, [], "x", 1]))
JSON_VALUE = st.one_of(
    st.none(), st.booleans(), st.integers(), st.text(max_size=3), st.lists(st.integers(), max_size=2)
)


def entry(fields: dict[str, Field], required: set[str]) -> st.SearchStrategy[dict[str, Any]]:
    """Valid objects of ``fields`` (each optional field present or not)."""
    return st.fixed_dictionaries(
        {k: v for k, (v, _) in fields.items() if k in required},
        optional={k: v for k, (v, _) in fields.items() if k not in required},
    )


def with_one_odd(fields: dict[str, Field], required: set[str]) -> st.SearchStrategy[Any]:
    """A valid object but for one thing: an odd value, a required key dropped, an unknown key, or not an object."""

    @st.composite
    def build(draw: st.DrawFn) -> Any:
        data = draw(entry(fields, required))
        how = draw(st.sampled_from(["odd", "odd", "odd", "drop", "unknown", "not an object"]))
        name = draw(st.sampled_from(sorted(fields)))
        if how == "odd":
            data[name] = draw(fields[name][1])
        elif how == "drop":
            data.pop(name, None)
        elif how == "unknown":
            data["unknown_key"] = "x"
        else:
            return draw(ODD_TYPES)
        return data

    return build()


def many(fields: dict[str, Field], required: set[str], limit: int, sample: dict[str, Any]) -> Field:
    valid = entry(fields, required)
    odd_list = st.builds(lambda ok, bad: [*ok, bad], st.lists(valid, max_size=2), with_one_odd(fields, required))
    return st.lists(valid, max_size=3), st.one_of(odd_list, st.just([sample] * (limit + 1)), ODD_TYPES)


LINK: dict[str, Field] = {"url": text(1000), "title": text(200)}
LINKS = many(LINK, {"url"}, 50, {"url": "u"})
REDACTED: Field = (st.booleans(), st.sampled_from(["true", "false", 1, 0, None, "x", "on"]))
DIFF: dict[str, Field] = {
    "path": text(500),
    "before": (JSON_VALUE, st.just(None)),
    "after": (JSON_VALUE, st.just(None)),
    "redacted": (st.booleans(), st.sampled_from(["true", "false", 1, 0, None, "x", "on"])),
}
DIFFS = many(DIFF, {"path"}, 500, {"path": "p"})

CHANGE: dict[str, Field] = {
    "service": SERVICE,
    "kind": choice(["deploy", "config", "custom"], ["Deploy", "nope"]),
    "summary": text(1024),
    "timestamp": MOMENT,
    "actor": text(255),
    "severity": choice(["info", "warning", "error", "critical"], ["fatal", "INFO"]),
    "details": OBJECT,
    "links": LINKS,
    "external_id": text(255),
    "status": (st.sampled_from(["", "in_progress", "succeeded", "failed"]), st.sampled_from(["done", None, 1])),
    "ended_at": (st.one_of(st.none(), MOMENT[0]), MOMENT[1].filter(lambda v: v is not None)),
    "diff": DIFFS,
    "commit_sha": text(64),
    "repository": text(300),
}
ALERT: dict[str, Field] = {
    "service": SERVICE,
    "title": text(1024),
    "timestamp": MOMENT,
    "severity": CHANGE["severity"],
    "status": choice(["triggered", "acknowledged", "resolved"], ["open"]),
    "external_id": text(255),
    "details": OBJECT,
    "links": LINKS,
    "url": text(1000),
}
DEPENDENCY: dict[str, Field] = {"service": SERVICE, "depends_on": SERVICE, "evidence": text(500)}


def items(fields: dict[str, Field], required: set[str]) -> st.SearchStrategy[Any]:
    return st.one_of(entry(fields, required), with_one_odd(fields, required))


CHANGE_ITEMS = items(CHANGE, {"service", "kind", "summary", "timestamp"})
ALERT_ITEMS = items(ALERT, {"service", "title", "timestamp"})
DEPENDENCY_ITEMS = items(DEPENDENCY, {"service", "depends_on"})
LINK_ITEMS = items(LINK, {"url"})
DIFF_ITEMS = items(DIFF, {"path"})


def agrees_with_drf(serializer_class: type, data: Any) -> bool:
    """True when the fast check stepped aside or returned exactly what DRF validated; False when it decided."""
    check = fastcheck.checker(serializer_class)
    assert check is not None, f"{serializer_class.__name__} lost its fast path"
    try:
        fast = check(data)
    except fastcheck.Unsure:
        return False
    drf = serializer_class(data=data)
    assert drf.is_valid(), f"the fast path accepted what DRF rejects: {data!r} → {drf.errors}"
    assert fast == dict(drf.validated_data)
    return True


@pytest.mark.parametrize(
    ("serializer_class", "items"),
    [
        (ChangeInSerializer, CHANGE_ITEMS),
        (AlertInSerializer, ALERT_ITEMS),
        (DependencyInSerializer, DEPENDENCY_ITEMS),
        (LinkSerializer, LINK_ITEMS),
        (DiffEntrySerializer, DIFF_ITEMS),
    ],
    ids=["changes", "alerts", "dependencies", "links", "diff entries"],
)
def test_the_fast_path_accepts_only_what_the_serializer_accepts_and_returns_the_same_data(serializer_class, items):
    decided: list[bool] = []

    @settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(items)
    def run(data: Any) -> None:
        decided.append(agrees_with_drf(serializer_class, data))

    run()
    assert any(decided), "no generated item took the fast path: the test no longer exercises it"


def test_an_ordinary_change_takes_the_fast_path_with_defaults_filled_in():
    check = fastcheck.checker(ChangeInSerializer)
    assert check is not None
    body = {"service": "checkout", "kind": "deploy", "summary": " Deploy 2.14 ", "timestamp": "2026-11-21T10:04:00Z"}
    out = check(body)
    drf = ChangeInSerializer(data=body)
    assert drf.is_valid()
    assert out == dict(drf.validated_data)
    assert out["summary"] == "Deploy 2.14" and out["links"] == [] and "external_id" not in out


def test_a_dependency_on_itself_is_left_to_the_serializer_to_refuse():
    check = fastcheck.checker(DependencyInSerializer)
    assert check is not None
    with pytest.raises(fastcheck.Unsure):
        check({"service": "a", "depends_on": "a"})


ORDINARY = {"service": "checkout", "kind": "deploy", "summary": "Deploy", "timestamp": "2026-11-21T10:04:00Z"}


@pytest.mark.parametrize(
    "override",
    [
        {"links": {}},
        {"links": [{"url": "u"}] * 51},
        {"diff": [{"path": "p", "redacted": "true"}]},
        {"summary": "x\ud800"},
        {"summary": "   "},
        {"kind": " deploy"},
        {"details": None},
        {"external_id": ""},
        {"ended_at": "2026-11-21T10:04:00"},
        {"surprise": 1},
    ],
    ids=repr,
)
def test_values_the_serializer_would_convert_or_refuse_are_left_to_it(override):
    check = fastcheck.checker(ChangeInSerializer)
    assert check is not None
    with pytest.raises(fastcheck.Unsure):
        check({**ORDINARY, **override})
