"""JSON from clients, with a nesting limit: REST bodies (DRF's parser) and WebSocket messages.

Python's json recurses once per level: about 1,000 levels of `[[[...` raise RecursionError (a 500
for anyone, without logging in), and a few hundred parse but make every later walk of the value
(validation, the idempotency fingerprint, an error message's repr) recurse as deep. No request of
this API nests more than a few levels, so anything deeper than MAX_JSON_DEPTH is refused as invalid.
"""

from __future__ import annotations

import json
from typing import Any

from rest_framework import parsers
from rest_framework.exceptions import ValidationError
from rest_framework.utils.json import strict_constant

MAX_JSON_DEPTH = 32
TOO_DEEP = f"JSON nested deeper than {MAX_JSON_DEPTH} levels."


class JsonTooDeep(ValueError):
    pass


def check_depth(value: Any) -> Any:
    """`value` itself, or JsonTooDeep if its arrays and objects nest deeper than MAX_JSON_DEPTH.
    Iterative: the walk itself never recurses."""
    stack = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict):
            children = node.values()
        elif isinstance(node, list):
            children = node
        else:
            continue
        if depth > MAX_JSON_DEPTH:
            raise JsonTooDeep(TOO_DEEP)
        stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))
    return value


def loads(text: str | bytes) -> Any:
    """json.loads for what a client sent: JSONDecodeError (a ValueError) when malformed,
    JsonTooDeep when nested too deep (however deep: the parser's RecursionError included).
    NaN and infinities are refused, as DRF's strict JSON does."""
    try:
        value = json.loads(text, parse_constant=strict_constant)
    except RecursionError as exc:
        raise JsonTooDeep(TOO_DEEP) from exc
    return check_depth(value)


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser (the API's only JSON parser, DEFAULT_PARSER_CLASSES) with the nesting limit:
    a body nested too deep is 400 `invalid_request`, before any view sees it."""

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            return check_depth(super().parse(stream, media_type, parser_context))
        except (RecursionError, JsonTooDeep) as exc:
            raise ValidationError({"non_field_errors": [TOO_DEEP]}) from exc
