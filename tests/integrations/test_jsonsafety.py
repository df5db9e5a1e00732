"""The one JSON-safety check, as a pure function: each rule, where it points, and what it lets through."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pytest

from integrations.jsonsafety import MAX_DEPTH, UnsafeJSON, check, loads


@pytest.mark.parametrize(
    "value,where,reason",
    [
        ({"a": "x\x00y"}, "body.a", "NUL"),
        ({"a": ["ok", "\ud800"]}, "body.a[1]", "unpaired surrogate"),
        ({"k\x00": 1}, "body.k\\x00", "key that contains a NUL"),
        ({"n": float("nan")}, "body.n", "out of range"),
        ({"n": [float("inf")]}, "body.n[0]", "out of range"),
        ({"name": "s" * 254}, "body.name", "at most 253"),
    ],
)
def test_it_refuses_what_postgresql_cannot_store_and_says_where(value, where, reason):
    with pytest.raises(UnsafeJSON) as caught:
        check(value, {"name": 253})
    assert caught.value.where() == where and reason in str(caught.value)


def test_nesting_is_refused_one_level_past_the_limit_with_a_cut_path():
    check(json.loads("[" * MAX_DEPTH + "]" * MAX_DEPTH))
    with pytest.raises(UnsafeJSON, match=r"nested too deeply") as caught:
        check(json.loads("[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1)))
    assert caught.value.where().endswith("...") and len(caught.value.where()) < 100


def test_limits_apply_only_at_their_path():
    check({"details": {"name": "s" * 10_000}, "name": "s" * 253}, {"name": 253})


def test_valid_unicode_big_numbers_and_other_types_pass():
    check({"emoji": "🙂", "accents": "é", "big": 10**300, "float": 1e300, "none": None, "flag": True, "t": (1, "a")})


@pytest.mark.parametrize(
    "text,reason",
    [
        ('{"a": "\\u0000"}', "NUL"),
        ('{"a": "\\ud800"}', "unpaired surrogate"),
        ('{"a": "\\uDFFF"}', "unpaired surrogate"),
        ('{"a": 1e400}', "out of range"),
        ('{"a": -1E999}', "out of range"),
        ('{"a": NaN}', "NaN is not valid JSON"),
        ('{"a": -Infinity}', "-Infinity is not valid JSON"),
        ("[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1), "nested too deeply"),
    ],
)
def test_loads_refuses_the_same_things_in_raw_json(text, reason):
    with pytest.raises(UnsafeJSON, match=reason):
        loads(text)


def test_loads_keeps_a_surrogate_pair_and_an_escaped_backslash():
    assert loads('{"a": "\\ud83d\\ude00", "b": "\\\\u0000"}') == {"a": "\U0001f600", "b": "\\u0000"}


@dataclass(frozen=True)
class _Hint:
    name: str


@dataclass(frozen=True)
class _Record:
    summary: str
    service: _Hint
    details: dict


_DEEP: dict = {}
_node = _DEEP
for _ in range(300):
    _node["d"] = {}
    _node = _node["d"]


@pytest.mark.parametrize(
    "details, name, refused",
    [
        ({"a": [1, 2.5, "text", None, True]}, "checkout", None),
        ({"a": ["x\x00y"]}, "checkout", "details.a[0]: contains a NUL"),
        ({"a": {"b\x00": 1}}, "checkout", "has a key that contains a NUL"),
        ({"a": [{"b": "\ud800"}]}, "checkout", "details.a[0].b: contains an unpaired surrogate"),
        ({"a": [1.0, float("inf")]}, "checkout", "details.a[1]: number inf is out of range"),
        ({"a": "a literal \\u0000 is six characters"}, "checkout", None),
        ({"a": "\U0001f600 a paired surrogate"}, "checkout", None),
        (_DEEP, "checkout", "is nested too deeply"),
        ({}, "c" * 254, "service.name: is 254 characters long"),
        ({}, "c" * 253, None),
    ],
)
def test_records_are_judged_the_same_by_the_fast_path_and_the_full_walk(details, name, refused):
    record = _Record(summary="Deploy", service=_Hint(name=name), details=details)
    limits = {"service": {"name": 253}}
    if refused is None:
        check(record, limits)
    else:
        with pytest.raises(UnsafeJSON) as caught:
            check(record, limits)
        assert refused in str(caught.value)


def test_strings_false_leaves_nul_and_surrogates_for_later_but_still_refuses_depth_and_nan():
    assert loads('{"a": "x\\u0000y", "b": "\\ud800"}', strings=False) == {"a": "x\x00y", "b": "\ud800"}
    with pytest.raises(UnsafeJSON, match="nested too deeply"):
        loads("[" * 300 + "]" * 300, strings=False)
    with pytest.raises(UnsafeJSON, match="NaN is not valid JSON"):
        loads('{"a": NaN}', strings=False)
    assert loads('{"a": ' + "[" * 200 + "]" * 200 + ', "b": "\\u0000"}', strings=False)["b"] == "\x00"
