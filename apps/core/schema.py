"""OpenAPI pieces shared by every app: the error envelope as each operation's default response, the
pagination parameters with their limits, and integer query parameters with their bounds (what the
server enforces is what the schema says, so a schema-driven client or fuzzer sends valid requests)."""

from django.core.validators import RegexValidator
from drf_spectacular import openapi
from drf_spectacular.extensions import OpenApiFilterExtension
from drf_spectacular.utils import OpenApiParameter
from rest_framework import serializers

# DRF's CharField refuses NUL characters, and, trimming whitespace, a blank-only value where blank
# is not allowed. ECMA-262 regular expressions, as OpenAPI's `pattern` is.
NO_NUL = "^[^\\x00]*$"
NOT_BLANK = "^[^\\x00]*[^\\s\\x00][^\\x00]*$"


class AutoSchema(openapi.AutoSchema):
    """drf-spectacular's, plus what DRF's text fields enforce beyond their length (NUL characters,
    whitespace-only values) in request bodies."""

    def _map_serializer_field(self, field, direction, bypass_extensions=False):
        schema = super()._map_serializer_field(field, direction, bypass_extensions)
        patterned = any(isinstance(v, RegexValidator) for v in field.validators)  # its own pattern says more
        if direction == "request" and isinstance(field, serializers.CharField) and not patterned:
            blank_refused = field.trim_whitespace and not field.allow_blank
            schema["pattern"] = NOT_BLANK if blank_refused else NO_NUL
        return schema


ERROR_SCHEMA = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message", "details"],
            "properties": {
                "code": {"type": "string", "example": "invalid_request"},
                "message": {"type": "string"},
                "details": {"type": "object", "additionalProperties": True},
            },
        }
    },
}


def add_error_responses(result, generator, request, public):
    result.setdefault("components", {}).setdefault("schemas", {})["Error"] = ERROR_SCHEMA
    reference = {"$ref": "#/components/schemas/Error"}
    for path_item in result.get("paths", {}).values():
        for operation in path_item.values():
            responses = operation.setdefault("responses", {})
            responses.setdefault(
                "default",
                {
                    "description": "Any error: the status says its kind, `error.code` which one (docs/api.md, Errors).",
                    "content": {"application/json": {"schema": reference}},
                },
            )
    return result


# What apps.core.fields.parse_time_param accepts: ISO-8601 (date-time or date) or unix milliseconds.
TIME = {"anyOf": [{"type": "string", "format": "date-time"}, {"type": "string", "format": "date"},
                  {"type": "string", "pattern": "^[0-9]{1,13}$"}]}  # fmt: skip


def integer_parameter(name: str, *, minimum: int, maximum: int, default: int | None = None, description: str = ""):
    """A query parameter the view parses as an ASCII integer in [minimum, maximum] (400 otherwise)."""
    schema = {"type": "integer", "minimum": minimum, "maximum": maximum}
    if default is not None:
        schema["default"] = default
    return OpenApiParameter(name, schema, description=description)


class CursorPaginationParameters(OpenApiFilterExtension):
    """`cursor` and `limit` of apps.core.pagination.CursorPagination, with the bounds it enforces."""

    target_class = "apps.core.pagination.CursorPagination"

    def get_schema_operation_parameters(self, auto_schema, *args, **kwargs):
        paginator = self.target
        return [
            {
                "name": "cursor", "in": "query", "required": False, "schema": {"type": "string"},
                "description": "From `next` of the previous page; anything else is 400 `invalid_request`.",
            },
            {
                "name": paginator.page_size_query_param, "in": "query", "required": False,
                "schema": {"type": "integer", "minimum": 1, "maximum": paginator.max_page_size,
                           "default": paginator.page_size},
                "description": f"Results per page, 1..{paginator.max_page_size} ({paginator.page_size}).",
            },
        ]  # fmt: skip
