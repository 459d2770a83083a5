"""Cursor pagination in the docs/api.md shape: {"results": [...], "next": "<url or null>"}."""

import re

from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import pagination
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.response import Response

BASE64 = re.compile(r"[A-Za-z0-9+/]+={0,2}")  # DRF's cursors: standard base64 of a query string


class CursorPagination(pagination.CursorPagination):
    """Stable under concurrent inserts (a cursor, not an offset). `limit` is 1..500, default 100.

    Views set `ordering` (newest first is the convention: ("-created_at", "-id")). A bad `limit`
    or a tampered cursor is a 400 `invalid_request`, not a silent fallback.
    """

    page_size = 100
    max_page_size = 500
    page_size_query_param = "limit"
    ordering = ("-created_at", "-id")

    def get_ordering(self, request, queryset, view):
        # A view's own `ordering` (newest first by its own time field) wins over the default.
        ordering = getattr(view, "ordering", None)
        if ordering:
            return (ordering,) if isinstance(ordering, str) else tuple(ordering)
        return super().get_ordering(request, queryset, view)

    def get_page_size(self, request):
        raw = request.query_params.get(self.page_size_query_param)
        if raw is None:
            return self.page_size
        # ASCII digits only: str.isdigit() also admits "²", which int() then refuses.
        if not re.fullmatch(r"[0-9]{1,4}", raw) or not 1 <= int(raw) <= self.max_page_size:
            raise ValidationError({"limit": [f"Must be an integer from 1 to {self.max_page_size}."]})
        return int(raw)

    def decode_cursor(self, request):
        # base64 decoding skips what is not in its alphabet ("%00", spaces): a cursor is refused
        # unless it is base64 throughout, or it would be read as another one.
        encoded = request.query_params.get(self.cursor_query_param)
        if encoded and not BASE64.fullmatch(encoded):
            raise ValidationError({"cursor": ["Invalid cursor."]})
        try:
            return super().decode_cursor(request)
        except NotFound as exc:
            raise ValidationError({"cursor": ["Invalid cursor."]}) from exc

    def paginate_queryset(self, queryset, request, view=None):
        # A well-formed cursor can still carry a position the ordering field cannot hold
        # ("p=not-a-date"); the database refuses it while filtering.
        try:
            return super().paginate_queryset(queryset, request, view)
        except (DjangoValidationError, ValueError, TypeError, OverflowError) as exc:
            raise ValidationError({"cursor": ["Invalid cursor."]}) from exc

    def get_paginated_response(self, data):
        return Response({"results": data, "next": self.get_next_link()})

    def get_paginated_response_schema(self, schema):
        return {
            "type": "object",
            "required": ["results", "next"],
            "properties": {
                "results": schema,
                "next": {"type": "string", "nullable": True, "format": "uri"},
            },
        }


def parse_limit(params, errors: dict, *, default: int, maximum: int) -> int:
    """`limit` of a query string, 1..maximum; a bad one is recorded in `errors` (400 per field)."""
    raw = params.get("limit", str(default))
    if not re.fullmatch(r"[0-9]{1,6}", raw) or not 1 <= int(raw) <= maximum:
        errors["limit"] = [f"Must be an integer from 1 to {maximum}."]
        return default
    return int(raw)


def raise_errors(errors: dict) -> None:
    if errors:
        raise ValidationError(errors)
