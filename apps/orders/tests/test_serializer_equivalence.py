"""OrderInput.accept_plain (order validation without DRF's field machinery) against DRF's own
run_validation: on random orders, good and bad, whatever the shortcut accepts DRF accepts with the
same data, and check_each answers exactly what run_validation answers (errors included)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from rest_framework import serializers

from apps.orders.serializers import OrderInput

FIELDS = ["symbol", "side", "type", "quantity", "quote_quantity", "price", "stop_price", "time_in_force",
          "post_only", "client_order_id", "self_trade_prevention"]  # fmt: skip
GOOD = {
    "symbol": ["BTC-USDT", "btc-usdt", "ETH-USDT", "X" * 24, "X" * 25, "BTC_USDT"],
    "side": ["buy", "sell", "BUY", "hold"],
    "type": ["limit", "market", "stop_limit", "stop_market", "Limit"],
    "quantity": ["0.5", "1", "0.00000001", "0", "-1", "1e3", "01", "0.1234567890123456789", "1" * 37, "1."],
    "quote_quantity": ["100", "0.5"],
    "price": ["10000.00", "9999.99", "10000.001"],
    "stop_price": ["10000", "0.01"],
    "time_in_force": ["gtc", "ioc", "fok", "day"],
    "post_only": [True, False],
    "client_order_id": ["a", "my-order:1.2_3", "x" * 64, "x" * 65, "has space", "é"],
    "self_trade_prevention": ["cancel_resting", "cancel_taker", "cancel_both"],
}
ODD = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-10, 10**20),
    st.floats(allow_nan=True),
    st.text(max_size=30),
    st.sampled_from(["", " ", " buy", "buy ", "\tBTC-USDT\n", "BTC\x00USDT", "\ud800", "1 ", " 1", "\u0661"]),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)


@st.composite
def orders(draw):
    raw = {}
    for name in FIELDS:
        presence = draw(st.sampled_from(["good", "good", "good", "absent", "odd"]))
        if presence == "good":
            raw[name] = draw(st.sampled_from(GOOD[name]))
        elif presence == "odd":
            raw[name] = draw(ODD)
    if draw(st.booleans()):
        raw[draw(st.text(max_size=8))] = draw(ODD)
    return raw


def reference(raw):
    try:
        return OrderInput().run_validation(raw), None
    except serializers.ValidationError as invalid:
        return None, invalid.detail


def plain(data: dict) -> dict:
    """Values with their type and exact text (Decimal("1.50") and Decimal("1.5") differ here)."""
    return {name: (type(value).__mro__[-2], str(value)) for name, value in data.items()}


@settings(max_examples=3000, deadline=None)
@given(raw=st.one_of(orders(), ODD))
def test_the_shortcut_accepts_only_what_drf_accepts_and_check_each_answers_as_drf(raw):
    expected = reference(raw)
    accepted = OrderInput().accept_plain(raw)
    if accepted is not None:
        assert expected[1] is None
        assert plain(accepted) == plain(expected[0])
    ((data, errors),) = OrderInput().check_each([raw])
    assert errors == expected[1]
    assert (data is None) == (expected[0] is None)
    if data is not None:
        assert plain(data) == plain(expected[0])


def test_ordinary_orders_take_the_shortcut():
    for raw in (
        {"symbol": "BTC-USDT", "side": "buy", "type": "limit", "price": "10000.00", "quantity": "0.0010"},
        {"symbol": "BTC-USDT", "side": "sell", "type": "market", "quantity": "1", "client_order_id": "a-1"},
        {"symbol": "BTC-USDT", "side": "buy", "type": "market", "quote_quantity": "100", "time_in_force": "ioc"},
        {"symbol": "ETH-USDT", "side": "buy", "type": "stop_limit", "price": "1", "stop_price": "2", "quantity": "3",
         "post_only": True, "self_trade_prevention": "cancel_taker"},
    ):  # fmt: skip
        assert OrderInput().accept_plain(raw) is not None, raw
        assert plain(OrderInput().accept_plain(raw)) == plain(reference(raw)[0])
