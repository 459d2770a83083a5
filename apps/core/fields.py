"""Serializer fields for the docs/api.md conventions: decimal-string money and millisecond UTC times."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal, InvalidOperation

from drf_spectacular.extensions import OpenApiSerializerFieldExtension
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from apps.core import money

# Plain positional notation only: no exponent, no NaN/Infinity, no spaces, no leading '+'.
# ASCII digits only (\d would admit other scripts' digits); fullmatch, so no trailing newline.
_DECIMAL_RE = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?")


def format_decimal(value: Decimal) -> str:
    """A Decimal as a plain string, never in exponent notation ("0.00000001", not "1E-8")."""
    return format(value, "f")


def format_in_precision(value, decimals: int) -> str:
    """An amount with exactly `decimals` places, as exchanges show them ("0.50000000" for BTC). (The
    matcher's publisher formats hundreds of thousands of amounts per second: money.unit is a table.)"""
    return format((value if type(value) is Decimal else Decimal(value)).quantize(money.unit(decimals)), "f")


class MoneyField(serializers.Field):
    """An amount or a price: a decimal string (or a JSON integer) in, a decimal string out.

    Rejects JSON floats (their value is already rounded by the JSON parser), exponent notation,
    NaN, infinity, booleans, negatives (unless `allow_negative`), zero (unless `allow_zero`) and
    more than `max_decimal_places` decimals. A view can tighten `max_decimal_places` per market
    before validation (the market's tick or lot precision).
    """

    default_error_messages = {
        "invalid": 'Must be a decimal string such as "0.015".',
        "float": 'Must be a decimal string such as "0.015", not a JSON number with a fraction.',
        "negative": "Must not be negative.",
        "zero": "Must be greater than zero.",
        "max_decimal_places": "Must have no more than {max_decimal_places} decimal places.",
        "max_digits": "Must have no more than {max_digits} digits in total.",
    }

    def __init__(
        self,
        *,
        max_digits: int = 36,
        max_decimal_places: int = 18,
        allow_negative: bool = False,
        allow_zero: bool = False,
        **kwargs,
    ):
        self.max_digits = max_digits
        self.max_decimal_places = max_decimal_places
        self.allow_negative = allow_negative
        self.allow_zero = allow_zero
        super().__init__(**kwargs)

    def to_internal_value(self, data) -> Decimal:
        if isinstance(data, bool):
            self.fail("invalid")
        if isinstance(data, float):
            self.fail("float")
        if isinstance(data, int):
            data = str(data)
        if not isinstance(data, str) or not _DECIMAL_RE.fullmatch(data):
            self.fail("invalid")
        try:
            value = Decimal(data)
        except InvalidOperation:  # pragma: no cover - the pattern admits only valid literals
            self.fail("invalid")
        if value < 0 and not self.allow_negative:
            self.fail("negative")
        if value == 0:
            if not self.allow_zero:
                self.fail("zero")
            value = abs(value)  # "-0" is zero
        decimals = len(data.partition(".")[2])
        if decimals > self.max_decimal_places:
            self.fail("max_decimal_places", max_decimal_places=self.max_decimal_places)
        digits = len(data.lstrip("-").replace(".", "").lstrip("0")) or 1
        if digits > self.max_digits:
            self.fail("max_digits", max_digits=self.max_digits)
        return value

    def to_representation(self, value) -> str:
        return format_decimal(Decimal(value))


def money_schema(*, allow_negative: bool, allow_zero: bool, max_decimal_places: int = 18,
                 integer_digits: int = 18) -> dict:  # fmt: skip
    """The JSON schema of the decimal strings a MoneyField accepts: plain notation, no more than
    `max_decimal_places` decimals and `integer_digits` digits before the point (together within
    max_digits), negative and zero only where allowed."""
    sign = "-?" if allow_negative else ""
    schema = {
        "type": "string", "format": "decimal", "example": "0.015",
        "pattern": f"^{sign}(?:0|[1-9][0-9]{{0,{integer_digits - 1}}})(?:\\.[0-9]{{1,{max_decimal_places}}})?$",
    }  # fmt: skip
    if not allow_zero:
        schema["not"] = {"pattern": "^-?0(?:\\.0+)?$"}
        schema["description"] = "Greater than zero." if not allow_negative else "Not zero."
    return schema


class MoneyFieldSchema(OpenApiSerializerFieldExtension):
    """Each MoneyField's own bounds in the OpenAPI schema (zero, negatives, decimals)."""

    target_class = MoneyField

    def map_serializer_field(self, auto_schema, direction):
        field = self.target
        return money_schema(
            allow_negative=field.allow_negative, allow_zero=field.allow_zero,
            max_decimal_places=field.max_decimal_places,
            integer_digits=max(1, min(18, field.max_digits - field.max_decimal_places)),
        )  # fmt: skip


def format_time(value: dt.datetime) -> str:
    """ISO-8601 in UTC with milliseconds and a Z: "2026-11-22T10:00:00.123Z"."""
    if value.tzinfo is None:
        raise ValueError("naive datetime: every time in this system is timezone-aware")
    return value.astimezone(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@extend_schema_field({"type": "string", "format": "date-time", "example": "2026-11-22T10:00:00.123Z"})
class UTCDateTimeField(serializers.DateTimeField):
    """DateTimeField rendered as format_time(); input accepts any ISO-8601 with an offset."""

    def to_representation(self, value):
        if not value:
            return None
        return format_time(value)


def parse_time_param(raw: str) -> dt.datetime:
    """A time in a query string: ISO-8601 ("2026-11-22T10:00:00.123Z", an offset, or no offset for
    UTC; a bare date is its midnight UTC) or unix milliseconds ("1795341600123"). ValueError otherwise."""
    if re.fullmatch(r"[0-9]{1,15}", raw):
        return dt.datetime.fromtimestamp(int(raw) / 1000, tz=dt.UTC)
    if not raw.isascii() or len(raw) > 40:
        raise ValueError(raw)
    value = dt.datetime.fromisoformat(raw.replace(" ", "+"))  # a '+' in a query string arrives as a space
    # In UTC: PostgreSQL refuses offsets Python accepts (beyond +-15:59, or with seconds).
    value = value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)
    if not dt.datetime(1970, 1, 1, tzinfo=dt.UTC) <= value < dt.datetime(9999, 1, 1, tzinfo=dt.UTC):
        raise ValueError(raw)
    return value
