"""The one JSON-safety check: what PostgreSQL cannot store, refused before anything is stored.

JSON allows, and Python reads, values that the database refuses later: ``\\u0000`` (jsonb and text hold no NUL),
lone surrogates such as ``\\ud800`` (not encodable as UTF-8), ``1e400`` (a float that overflows to infinity;
numeric and jsonb hold no infinity), ``NaN``/``Infinity`` (not JSON at all), nesting so deep that serialising the
value again overflows the stack, and strings longer than the column they are stored in. Accepting any of these
answers a sender 202 and then fails the delivery in the pipeline on every replay.

It lives here, in the lowest layer, because ``integrations.base.parse_json`` (every webhook body, in the receiver
and again in the pipeline) must apply it and integrations import nothing from ``changetrack``. It is pure Python:
the column limits come from the caller (``changetrack.ingest.record_limits`` reads them from the models), so the
rules are here once and the schema stays the one definition of the limits.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

#: Far deeper than any real payload, and far enough below Python's recursion limit that the value can be
#: serialised again (``json.dumps`` recurses) from inside a request or a worker.
MAX_DEPTH = 256

#: A nested mapping of column lengths by path: ``{"summary": 1024, "service": {"name": 253}}``.
Limits = Mapping[str, "int | Limits"]


class UnsafeJSON(ValueError):
    """A value the database cannot store. ``path`` names where (``details.a[3]``), ``reason`` says why."""

    def __init__(self, reason: str, root: str = "body"):
        super().__init__(reason)
        self.reason = reason
        self.root = root
        self.path: list[str | int] = []

    def where(self) -> str:
        """The root followed by the path: ``body.details.a[3]``. Readable whatever the sender put in its keys:
        a key the database cannot store is escaped, long keys and deep paths are cut."""
        parts = [f"[{part}]" if isinstance(part, int) else f".{_printable(part)}" for part in self.path]
        if len(parts) > MAX_PATH_PARTS:
            parts = [*parts[:MAX_PATH_PARTS], "..."]
        return self.root + "".join(parts)

    def __str__(self) -> str:
        return f"{self.where()}: {self.reason}"


MAX_PATH_PARTS = 12


def _printable(key: str) -> str:
    key = key if text_problem(key) is None else ascii(key)[1:-1]
    return key if len(key) <= 64 else key[:61] + "..."


def text_problem(text: str) -> str | None:
    """Why PostgreSQL cannot store ``text`` (a NUL, a lone surrogate), or None when it can."""
    if "\x00" in text:
        return "contains a NUL character (\\u0000), which cannot be stored"
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:  # strict UTF-8 refuses exactly the surrogate code points
            return "contains an unpaired surrogate, which cannot be stored"
    return None


def check(value: Any, limits: Limits | None = None, max_depth: int = MAX_DEPTH) -> None:
    """Raise ``UnsafeJSON`` unless every part of ``value`` can be stored by PostgreSQL.

    ``value`` is decoded JSON (dicts, lists, strings, numbers, bools, None) and may also hold frozen dataclasses,
    tuples and mappings (records). Refused: NUL characters and lone surrogates in strings and keys, non-finite
    floats, containers nested deeper than ``max_depth``, and strings longer than ``limits`` allows at their path.
    """
    _walk(value, limits, max_depth)


def _walk(item: Any, limit: Any, depth_left: int) -> None:
    kind = type(item)
    if kind is str:
        problem = text_problem(item)
        if problem:
            raise UnsafeJSON(problem)
        if type(limit) is int and len(item) > limit:
            raise UnsafeJSON(f"is {len(item)} characters long; at most {limit} can be stored")
    elif kind is float:
        if not math.isfinite(item):
            raise UnsafeJSON(f"number {item} is out of range: the database stores only finite numbers")
    elif kind in (int, bool) or item is None:
        return
    elif kind in (list, tuple):
        if depth_left <= 0:
            raise UnsafeJSON("is nested too deeply")
        for index, sub in enumerate(item):
            try:
                _walk(sub, None, depth_left - 1)
            except UnsafeJSON as exc:
                exc.path.insert(0, index)
                raise
    elif kind is dict or isinstance(item, Mapping):
        _walk_pairs(item.items(), limit, depth_left)
    elif dataclasses.is_dataclass(item) and not isinstance(item, type):
        _walk_pairs(((name, getattr(item, name)) for name in _field_names(kind)), limit, depth_left)
    # anything else (datetimes in records) is stored through its own column type


_FIELD_NAMES: dict[type, tuple[str, ...]] = {}


def _field_names(kind: type) -> tuple[str, ...]:
    """A dataclass's field names (``dataclasses.fields`` rebuilds its answer on every call)."""
    names = _FIELD_NAMES.get(kind)
    if names is None:
        names = _FIELD_NAMES[kind] = tuple(f.name for f in dataclasses.fields(kind))
    return names


#: values that need no walk: a plain ASCII string without NUL and without a limit is the common case of every
#: record field, so it is answered here without a call per field
_ALWAYS_SAFE = (int, bool, type(None), datetime)


def _walk_pairs(pairs: Any, limit: Any, depth_left: int) -> None:
    if depth_left <= 0:
        raise UnsafeJSON("is nested too deeply")
    nested = limit if isinstance(limit, Mapping) else None
    for key, sub in pairs:
        kind = type(sub)
        if type(key) is str and (not key.isascii() or "\x00" in key):
            problem = text_problem(key)
            if problem:
                exc = UnsafeJSON(f"has a key that {problem}")
                exc.path.insert(0, key)
                raise exc
        if (
            kind in _ALWAYS_SAFE
            or (kind in (tuple, list, dict) and not sub)
            or (kind is str and sub.isascii() and "\x00" not in sub and (nested is None or key not in nested))
        ):
            continue
        try:
            _walk(sub, nested.get(key) if nested is not None else None, depth_left - 1)
        except UnsafeJSON as exc:
            exc.path.insert(0, key)
            raise


#: NUL and lone surrogates reach decoded JSON only through ``\\u`` escapes (raw control characters are a decode
#: error, and strict UTF-8 decoding refuses encoded surrogates): a body without one needs no string scan.
_SUSPECT_ESCAPE = re.compile(r"\\u(?:0000|[dD][89a-fA-F])")


def _reject_constant(name: str) -> Any:
    raise UnsafeJSON(f"{name} is not valid JSON")


def _finite_float(text: str) -> float:
    number = float(text)
    if math.isinf(number):
        raise UnsafeJSON(f"number {text[:40]} is out of range: the database stores only finite numbers")
    return number


#: one decoder for every body: ``json.loads`` with hooks builds a new decoder (and scanner) per call
_DECODER = json.JSONDecoder(parse_constant=_reject_constant, parse_float=_finite_float)


def loads(text: str, max_depth: int = MAX_DEPTH, *, strings: bool = True) -> Any:
    """Decode ``text`` (a leading byte order mark skipped) and ``check`` the result. Raises ``json.JSONDecodeError`` for malformed JSON,
    ``RecursionError`` for nesting beyond what the decoder can read, ``ValueError`` for an integer literal over
    ``sys.get_int_max_str_digits()`` digits, and ``UnsafeJSON`` for everything ``check`` refuses.

    ``strings=False`` leaves NUL characters and lone surrogates to a later ``check`` of what is made of the value
    (a poll's answer: its records are checked one by one, so one bad event does not hold up the others).

    The decoder itself refuses ``NaN``/``Infinity`` and overflowing floats, so the full walk runs only when the
    text could hold what it looks for: a suspect escape, or more brackets than ``max_depth``."""
    # A UTF-8 byte order mark is not JSON, but Windows PowerShell 5.1 writes one (Out-File, Set-Content -Encoding
    # UTF8) and Python's own json.loads(bytes) skips it: accept it rather than refuse those senders.
    value = _DECODER.decode(text[1:] if text.startswith("\ufeff") else text)
    if strings and _SUSPECT_ESCAPE.search(text):
        check(value, max_depth=max_depth)
    elif text.count("[") + text.count("{") > max_depth:
        if strings:
            check(value, max_depth=max_depth)
        else:
            _check_nesting(value, max_depth)
    return value


def _check_nesting(item: Any, depth_left: int) -> None:
    """``check``'s depth rule alone."""
    kind = type(item)
    if kind is not list and kind is not dict:
        return
    if depth_left <= 0:
        raise UnsafeJSON("is nested too deeply")
    for sub in item.values() if kind is dict else item:
        _check_nesting(sub, depth_left - 1)
