"""Decimal-string money fields and millisecond UTC times."""

import datetime as dt
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st
from rest_framework import serializers

from apps.core.fields import MoneyField, UTCDateTimeField, format_decimal, format_time


def validate(value, **kwargs):
    return MoneyField(**kwargs).run_validation(value)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("0.015", Decimal("0.015")),
        ("1", Decimal(1)),
        (7, Decimal(7)),
        ("123456789.12345678", Decimal("123456789.12345678")),
    ],
)
def test_accepts_decimal_strings_and_integers(raw, expected):
    assert validate(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        1.5,  # a JSON float: already rounded by the parser
        0.1,
        1e-8,
        "1e-8",
        "1E5",
        "NaN",
        "nan",
        "Infinity",
        "-Infinity",
        "inf",
        "",
        " 1",
        "1 ",
        "+1",
        "1.",
        ".5",
        "01",
        "1,5",
        "0x10",
        "\uff11",  # a full-width digit one
        "1\uff11",
        "1\u0661",  # an Arabic-Indic digit
        "1\n",
        "1.5\n",
        True,
        None,
        [],
        {},
    ],
)
def test_rejects_non_decimal_strings(raw):
    with pytest.raises(serializers.ValidationError):
        validate(raw)


def test_float_gets_a_specific_message():
    with pytest.raises(serializers.ValidationError) as info:
        validate(0.1)
    assert "not a JSON number" in str(info.value.detail[0])


def test_rejects_negative_unless_allowed():
    with pytest.raises(serializers.ValidationError, match="negative"):
        validate("-1")
    assert validate("-1", allow_negative=True) == Decimal(-1)


def test_rejects_zero_unless_allowed():
    with pytest.raises(serializers.ValidationError, match="greater than zero"):
        validate("0.000")
    assert validate("0", allow_zero=True) == 0


def test_rejects_more_decimals_than_allowed():
    assert validate("0.12345678", max_decimal_places=8) == Decimal("0.12345678")
    with pytest.raises(serializers.ValidationError, match="8 decimal places"):
        validate("0.123456789", max_decimal_places=8)
    # Trailing zeros count: the client sent more precision than the market has.
    with pytest.raises(serializers.ValidationError):
        validate("1.000000000", max_decimal_places=8)


def test_rejects_too_many_digits():
    with pytest.raises(serializers.ValidationError, match="digits"):
        validate("1" * 37)


def test_renders_plain_strings_never_exponents():
    field = MoneyField()
    assert field.to_representation(Decimal("1E-8")) == "0.00000001"
    assert field.to_representation(Decimal("1.50")) == "1.50"
    assert format_decimal(Decimal("1E+3")) == "1000"


@given(
    st.decimals(
        allow_nan=False,
        allow_infinity=False,
        min_value=Decimal("0.000000000000000001"),
        max_value=Decimal("1e17"),
        places=18,
    )
)
def test_round_trips_every_positive_decimal(value):
    field = MoneyField()
    text = field.to_representation(value)
    assert field.run_validation(text) == value


@given(st.floats(allow_nan=True, allow_infinity=True))
def test_never_accepts_a_float(value):
    with pytest.raises(serializers.ValidationError):
        validate(value)


def test_format_time_is_utc_with_milliseconds():
    moment = dt.datetime(2026, 11, 22, 12, 0, 0, 123456, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    assert format_time(moment) == "2026-11-22T10:00:00.123Z"
    assert format_time(dt.datetime(2026, 1, 1, tzinfo=dt.UTC)) == "2026-01-01T00:00:00.000Z"


def test_format_time_refuses_naive_datetimes():
    with pytest.raises(ValueError, match="naive"):
        format_time(dt.datetime(2026, 1, 1))


def test_datetime_field_renders_and_parses():
    field = UTCDateTimeField()
    moment = dt.datetime(2026, 11, 22, 10, 0, 0, 999999, tzinfo=dt.UTC)
    assert field.to_representation(moment) == "2026-11-22T10:00:00.999Z"
    assert field.to_internal_value("2026-11-22T12:00:00.5+02:00") == dt.datetime(
        2026, 11, 22, 10, 0, 0, 500000, tzinfo=dt.UTC
    )


def test_negative_zero_is_zero():
    assert str(validate("-0.00", allow_zero=True)) == "0.00"


def test_amount_arithmetic_keeps_36_digits_in_any_thread():
    import threading

    import exchange  # noqa: F401 - sets the money precision

    results = []

    def multiply():
        results.append(Decimal("123456789012345678.123456789012345678") * Decimal("1.000000000000000001"))

    thread = threading.Thread(target=multiply)
    thread.start()
    thread.join()
    assert results[0] == Decimal("123456789012345678.246913578024691356123456789012345678")
