"""A fast path for validating write items, compiled from the serializers' own declared fields.

DRF spends about a millisecond validating one change (a field object, its validators and its error plumbing
per value): most of the time of a 1,000-item POST. ``checker(SerializerClass)`` turns the serializer's fields
into plain checks that accept only values the serializer accepts and return the same validated data. Whatever
they cannot vouch for (an invalid value, or a shape they do not handle) raises ``Unsure``, and the caller runs
the serializer itself: the error answers (problem+json, one entry per field) still come from DRF alone.
Limits, defaults and choices are read from the field objects, so the serializers stay the one definition.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from django.core.validators import MaxLengthValidator, MinLengthValidator, ProhibitNullCharactersValidator
from rest_framework import fields as f
from rest_framework import serializers
from rest_framework.fields import SkipField, empty
from rest_framework.validators import ProhibitSurrogateCharactersValidator

from changetrack.api.fields import ObjectField, OffsetDateTimeField, ServiceRefField, StrictCharField
from changetrack.api.serializers import StrictSerializer

Check = Callable[[Any], Any]


class Unsure(Exception):
    """The fast path cannot vouch for this value: let the serializer decide (and word any error)."""


class Unsupported(Exception):
    """A field type or option the fast path does not know: the serializer has no fast path."""


def _char(field: f.CharField) -> Check:
    """CharField.run_validation for strings: blank rule, trimming, length, NUL and surrogate validators."""
    own = (
        MaxLengthValidator,
        MinLengthValidator,
        ProhibitNullCharactersValidator,
        ProhibitSurrogateCharactersValidator,
    )
    if not all(type(v) in own for v in field.validators):  # a validator other than the ones CharField adds
        raise Unsupported(field.field_name)
    longest, shortest = field.max_length, field.min_length or 0
    allow_blank, trim = field.allow_blank, field.trim_whitespace

    def check(value: Any) -> str:
        if type(value) is not str:
            raise Unsure
        text = value.strip() if trim else value
        if not text:
            if not allow_blank:
                raise Unsure
            return ""
        if (longest is not None and len(text) > longest) or len(text) < shortest or "\x00" in text:
            raise Unsure
        if not text.isascii():
            try:
                text.encode("utf-8")  # strict UTF-8 refuses exactly the surrogate code points
            except UnicodeEncodeError:
                raise Unsure from None
        return text

    return check


def _choice(field: f.ChoiceField) -> Check:
    choices, allow_blank = dict(field.choice_strings_to_values), field.allow_blank

    def check(value: Any) -> Any:
        if type(value) is not str:
            raise Unsure
        if value == "" and allow_blank:
            return ""
        if value not in choices:
            raise Unsure
        return choices[value]

    return check


def _own(field: f.Field) -> Check:
    """Our own fields: their ``to_internal_value`` is the whole of their validation (they have no validators)."""
    if field.validators:
        raise Unsupported(field.field_name)

    def check(value: Any) -> Any:
        try:
            return field.to_internal_value(value)
        except serializers.ValidationError:
            raise Unsure from None

    return check


def _json(field: f.JSONField) -> Check:
    if field.binary or field.validators:
        raise Unsupported(field.field_name)

    def check(value: Any) -> Any:
        try:
            json.dumps(value, cls=field.encoder)
        except (TypeError, ValueError):
            raise Unsure from None
        return value

    return check


def _boolean(field: f.BooleanField) -> Check:
    if field.validators:
        raise Unsupported(field.field_name)

    def check(value: Any) -> bool:
        if type(value) is not bool:  # "true", 1, "on"... are DRF's to convert
            raise Unsure
        return value

    return check


def _list(field: serializers.ListSerializer) -> Check:
    if field.validators or not isinstance(field.child, StrictSerializer):
        raise Unsupported(field.field_name)
    item = _compile(field.child)
    allow_empty, longest, shortest = field.allow_empty, field.max_length, field.min_length or 0

    def check(value: Any) -> list[Any]:
        if type(value) is not list or (not value and not allow_empty):
            raise Unsure
        if (longest is not None and len(value) > longest) or len(value) < shortest:
            raise Unsure
        return [item(v) for v in value]

    return check


#: exact field classes → how to check them (subclasses may change behaviour, so they must be listed)
_FIELD_CHECKS: dict[type, Callable[[Any], Check]] = {
    f.CharField: _char,
    StrictCharField: _char,
    f.ChoiceField: _choice,
    OffsetDateTimeField: _own,
    ServiceRefField: _own,
    ObjectField: _own,
    f.JSONField: _json,
    f.BooleanField: _boolean,
}


def _field(field: f.Field) -> Check:
    """Field.run_validation: missing → required/default/skip, null → allow_null, else the value's check."""
    if isinstance(field, serializers.ListSerializer):
        inner = _list(field)
    elif type(field) in _FIELD_CHECKS:
        inner = _FIELD_CHECKS[type(field)](field)
    else:
        raise Unsupported(f"{field.field_name}: {type(field).__name__}")
    required, allow_null = field.required, field.allow_null

    def check(value: Any) -> Any:
        if value is empty:
            if required:
                raise Unsure
            return field.get_default()  # SkipField when there is no default: the key is left out
        if value is None:
            if not allow_null:
                raise Unsure
            return None
        return inner(value)

    return check


def _compile(serializer: serializers.Serializer) -> Check:
    """StrictSerializer.run_validation for a mapping: no unknown keys, every field, then ``validate()``."""
    if serializer.validators or serializer.partial:
        raise Unsupported(type(serializer).__name__)
    plan: list[tuple[str, Check]] = []
    for name, field in serializer.fields.items():
        if field.read_only or field.source != name or hasattr(serializer, f"validate_{name}"):
            raise Unsupported(name)
        plan.append((name, _field(field)))
    known = frozenset(name for name, _ in plan)
    custom = type(serializer).validate is not serializers.Serializer.validate

    def check(data: Any) -> dict[str, Any]:
        if type(data) is not dict or not known.issuperset(data):
            raise Unsure
        out: dict[str, Any] = {}
        for name, field_check in plan:
            try:
                out[name] = field_check(data.get(name, empty))
            except SkipField:
                continue
        if custom:
            try:
                out = serializer.validate(out)
            except serializers.ValidationError:
                raise Unsure from None
        return out

    return check


_checkers: dict[type[serializers.Serializer], Check | None] = {}


def checker(serializer_class: type[serializers.Serializer]) -> Check | None:
    """The fast check of one item for ``serializer_class``, or None when it has a field the fast path does not
    know (then every item goes through the serializer). Built once per class."""
    if serializer_class not in _checkers:
        try:
            compiled = _compile(serializer_class()) if issubclass(serializer_class, StrictSerializer) else None
        except Unsupported:
            compiled = None
        _checkers[serializer_class] = compiled
    return _checkers[serializer_class]
