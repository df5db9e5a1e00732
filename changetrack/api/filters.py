"""List filters (django-filter). Time bounds follow the API's timestamp rule: RFC 3339 with an offset."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import django_filters
from django import forms
from django.db.models import Q, QuerySet
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from changetrack import search as change_search
from changetrack.api.fields import OffsetDateTimeField
from changetrack.models import Alert, Change, Service
from changetrack.resolution import path_query


class OffsetDateTimeFormField(forms.CharField):
    def to_python(self, value: Any) -> datetime | None:  # type: ignore[override]
        text = super().to_python(value)
        if not text:
            return None
        try:
            return OffsetDateTimeField().to_internal_value(text)
        except serializers.ValidationError as exc:
            raise forms.ValidationError(" ".join(str(d) for d in exc.detail)) from None


@extend_schema_field(OpenApiTypes.DATETIME)
class OffsetDateTimeFilter(django_filters.Filter):
    field_class = OffsetDateTimeFormField


class CharInFilter(django_filters.BaseInFilter, django_filters.CharFilter):
    """``kind=deploy,config``."""


class _Common(django_filters.FilterSet):
    service = django_filters.NumberFilter(field_name="service_id", help_text="service id")
    cluster = django_filters.CharFilter(field_name="service__cluster__name", help_text="cluster name")
    namespace = django_filters.CharFilter(field_name="service__namespace")
    source = CharInFilter(field_name="source", help_text="comma-separated sources (api, kubernetes, github, ...)")


def _window_and_text(time: str, text: str) -> tuple[OffsetDateTimeFilter, OffsetDateTimeFilter, django_filters.Filter]:
    """``since`` (inclusive) and ``until`` (exclusive) on the ``time`` column, ``q`` for text in ``text``."""
    return (
        OffsetDateTimeFilter(field_name=time, lookup_expr="gte"),
        OffsetDateTimeFilter(field_name=time, lookup_expr="lt"),
        django_filters.CharFilter(field_name=text, lookup_expr="icontains", help_text=f"text in the {text}"),
    )


class ChangeFilter(_Common):
    kind = CharInFilter(field_name="kind", help_text="comma-separated change kinds")
    since, until = _window_and_text("occurred_at", "summary")[:2]
    q = django_filters.CharFilter(
        method="search",
        help_text="text in the summary, or (3 characters or more) the start of a commit SHA, an image or its tag, "
        "a version, an actor or a flag key; several words must all match",
    )

    class Meta:
        model = Change
        fields: list[str] = []

    def search(self, queryset: QuerySet[Change], name: str, value: str) -> QuerySet[Change]:
        """The summary substring the API always searched, or the indexed terms (``changetrack.search``)."""
        term = value.strip()
        try:
            return queryset.filter(Q(summary__icontains=term) | Q(change_search.condition(term)))
        except change_search.BadQuery:
            return queryset.filter(summary__icontains=term)


class AlertFilter(_Common):
    status = CharInFilter(field_name="status", help_text="comma-separated: triggered, acknowledged, resolved")
    severity = CharInFilter(field_name="severity")
    since, until, q = _window_and_text("started_at", "title")

    class Meta:
        model = Alert
        fields: list[str] = []


class ServiceFilter(django_filters.FilterSet):
    cluster = django_filters.CharFilter(field_name="cluster__name", help_text="cluster name")
    namespace = django_filters.CharFilter(field_name="namespace")
    q = django_filters.CharFilter(
        method="search", help_text="text in the name, or a path: namespace/name or cluster/namespace/name"
    )

    class Meta:
        model = Service
        fields: list[str] = []

    def search(self, queryset: QuerySet[Service], name: str, value: str) -> QuerySet[Service]:
        term = value.strip()
        return queryset.filter(Q(name__icontains=term) | path_query(term))
