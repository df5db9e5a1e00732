"""Cursor pagination: ``{"results": [...], "next": "<url or null>"}``. A bad cursor is a 400, not a 404."""

from __future__ import annotations

from typing import Any

from django.utils.dateparse import parse_datetime
from rest_framework import exceptions, pagination
from rest_framework.response import Response

from changetrack.infra.urls import absolute_url_of

#: orderings whose position (the value a cursor carries) is a timestamp
_TIME_FIELDS = frozenset({"occurred_at", "started_at"})


class Cursor(pagination.CursorPagination):
    page_size = 50
    page_size_query_param = "limit"
    max_page_size = 500
    ordering = ("-occurred_at", "-id")

    def paginate_queryset(self, queryset: Any, request: Any, view: Any = None) -> Any:
        try:
            page = super().paginate_queryset(queryset, request, view)
        except exceptions.NotFound:
            raise exceptions.ValidationError({"cursor": ["Invalid cursor; use the `next` URL as given."]}) from None
        self.base_url = absolute_url_of(request)  # `next` links start at PUBLIC_URL, not at the Host a client sent
        return page

    def decode_cursor(self, request: Any) -> Any:
        """DRF's cursor, refused (as DRF refuses a malformed one) when its position could not be compared with the
        ordering column: a crafted cursor such as base64 of ``p=2026`` used to reach the query and answer 500."""
        cursor = super().decode_cursor(request)
        if cursor is not None and cursor.position is not None and not self._valid_position(cursor.position):
            raise exceptions.NotFound(self.invalid_cursor_message)
        return cursor

    def _valid_position(self, position: str) -> bool:
        if "\x00" in position:
            return False
        if self.ordering[0].lstrip("-") not in _TIME_FIELDS:
            return True
        try:
            return parse_datetime(position) is not None
        except ValueError:  # well-formed but impossible, such as month 13
            return False

    def get_paginated_response(self, data: Any) -> Response:
        return Response({"results": data, "next": self.get_next_link()})

    def get_paginated_response_schema(self, schema: dict[str, Any]) -> dict[str, Any]:
        return {
            "type": "object",
            "required": ["results", "next"],
            "properties": {"results": schema, "next": {"type": "string", "format": "uri", "nullable": True}},
        }


class AlertCursor(Cursor):
    ordering = ("-started_at", "-id")


class ServiceCursor(Cursor):
    ordering = ("name", "id")
