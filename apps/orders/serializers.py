"""Order input and output in the API.md shape (decimal strings in the market's precision)."""

from __future__ import annotations

from rest_framework import serializers

from apps.core.fields import MoneyField, format_in_precision, format_time
from apps.orders.models import Order


class OrderInput(serializers.Serializer):
    symbol = serializers.CharField(max_length=24)
    side = serializers.ChoiceField(choices=Order.Side.choices)
    type = serializers.ChoiceField(choices=Order.Type.choices)
    quantity = MoneyField(required=False)
    quote_quantity = MoneyField(required=False, help_text="Market (and stop-market) buys: spend this much quote.")
    price = MoneyField(required=False)
    stop_price = MoneyField(required=False)
    time_in_force = serializers.ChoiceField(choices=Order.TimeInForce.choices, default=Order.TimeInForce.GTC)
    post_only = serializers.BooleanField(default=False)
    client_order_id = serializers.RegexField(r"^[A-Za-z0-9_.:\-]{1,64}$", required=False,
                                             help_text="Up to 64 of A-Z a-z 0-9 _ . : -")  # fmt: skip
    self_trade_prevention = serializers.ChoiceField(
        choices=Order.SelfTradePrevention.choices, default=Order.SelfTradePrevention.CANCEL_RESTING,
        help_text="When the order would trade with one of your own: cancel the resting one (default) or this one.",
    )  # fmt: skip

    def validate_post_only(self, value):
        if not isinstance(self.initial_data.get("post_only", False), bool):
            raise serializers.ValidationError("Must be true or false.")
        return value


def average_price_text(average, price_decimals: int, quote_decimals: int) -> str | None:
    """The average fill price to the quote currency's precision, but no more places than needed
    beyond the market's own ("100.00", "103.333333")."""
    if average is None:
        return None
    text = format_in_precision(average, max(price_decimals, quote_decimals))
    whole, _, fraction = text.partition(".")
    fraction = fraction.rstrip("0").ljust(price_decimals, "0")
    return f"{whole}.{fraction}" if fraction else whole


def order_payload(order: Order) -> dict:
    """The REST (and WebSocket) representation of an order."""
    market = order.market
    pd, qd, quote_d = market.price_decimals, market.quantity_decimals, market.quote.decimals

    def money(value, places):
        return None if value is None else format_in_precision(value, places)

    average = order.average_price
    return {
        "id": order.id,
        "client_order_id": order.client_order_id or None,
        "symbol": market.symbol,
        "side": order.side,
        "type": order.type,
        "price": money(order.price, pd),
        "stop_price": money(order.stop_price, pd),
        "quantity": money(order.quantity, qd),
        "quote_quantity": money(order.quote_quantity, quote_d),
        "filled_quantity": money(order.filled_quantity, qd),
        "filled_quote_quantity": money(order.filled_quote, quote_d),
        "average_price": average_price_text(average, pd, quote_d),
        "fee": format_in_precision(order.fee, (market.base if order.side == "buy" else market.quote).decimals),
        "fee_currency": market.base_id if order.side == "buy" else market.quote_id,
        "status": order.status,
        "reason": order.reason or None,
        "time_in_force": order.time_in_force,
        "post_only": order.post_only,
        "self_trade_prevention": order.self_trade_prevention,
        "created_at": format_time(order.created_at),
        "updated_at": format_time(order.updated_at),
    }


class OrderOutput(serializers.Serializer):
    """Schema of order_payload (documentation; rendering goes through order_payload)."""

    id = serializers.IntegerField()
    client_order_id = serializers.CharField(allow_null=True)
    symbol = serializers.CharField()
    side = serializers.ChoiceField(choices=Order.Side.choices)
    type = serializers.ChoiceField(choices=Order.Type.choices)
    price = MoneyField(allow_null=True)
    stop_price = MoneyField(allow_null=True)
    quantity = MoneyField(allow_null=True)
    quote_quantity = MoneyField(allow_null=True)
    filled_quantity = MoneyField(allow_zero=True)
    filled_quote_quantity = MoneyField(allow_zero=True)
    average_price = MoneyField(allow_null=True)
    fee = MoneyField(allow_zero=True)
    fee_currency = serializers.CharField()
    status = serializers.ChoiceField(choices=Order.Status.choices)
    reason = serializers.CharField(allow_null=True)
    time_in_force = serializers.ChoiceField(choices=Order.TimeInForce.choices)
    post_only = serializers.BooleanField()
    self_trade_prevention = serializers.ChoiceField(choices=Order.SelfTradePrevention.choices)
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()
