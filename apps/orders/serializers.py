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


class OrderFormatter:
    """Renders orders of one market: the REST answers and the matcher's WebSocket events go through
    the same code, so both always have the same shape. The fields that never change are rendered
    once per order (`static`), the fill state each time (`payload`)."""

    def __init__(self, market):
        self.market = market
        self.pd, self.qd, self.quote_d = market.price_decimals, market.quantity_decimals, market.quote.decimals
        self.fee_decimals = {"buy": market.base.decimals, "sell": market.quote.decimals}
        self.fee_currency = {"buy": market.base_id, "sell": market.quote_id}

    @staticmethod
    def _money(value, places):
        return None if value is None else format_in_precision(value, places)

    def static(self, *, id, client_order_id, side, type, price, stop_price, quantity, quote_quantity, time_in_force,
               post_only, self_trade_prevention, created_at) -> dict:  # fmt: skip
        return {
            "id": id, "client_order_id": client_order_id or None, "symbol": self.market.symbol, "side": side,
            "type": type, "price": self._money(price, self.pd), "stop_price": self._money(stop_price, self.pd),
            "quantity": self._money(quantity, self.qd), "quote_quantity": self._money(quote_quantity, self.quote_d),
            "time_in_force": time_in_force, "post_only": post_only, "self_trade_prevention": self_trade_prevention,
            "fee_currency": self.fee_currency[side], "created_at": format_time(created_at),
        }  # fmt: skip

    def payload(self, static: dict, *, filled_quantity, filled_quote, fee, status, reason, updated_at) -> dict:
        average = filled_quote / filled_quantity if filled_quantity else None
        return {
            **static,
            "filled_quantity": format_in_precision(filled_quantity, self.qd),
            "filled_quote_quantity": format_in_precision(filled_quote, self.quote_d),
            "average_price": average_price_text(average, self.pd, self.quote_d),
            "fee": format_in_precision(fee, self.fee_decimals[static["side"]]),
            "status": status,
            "reason": reason or None,
            "updated_at": format_time(updated_at),
        }


STATIC_FIELDS = ("id", "client_order_id", "side", "type", "price", "stop_price", "quantity", "quote_quantity",
                 "time_in_force", "post_only", "self_trade_prevention", "created_at")  # fmt: skip


def order_payload(order: Order) -> dict:
    """The REST (and WebSocket) representation of an order."""
    formatter = OrderFormatter(order.market)
    static = formatter.static(**{name: getattr(order, name) for name in STATIC_FIELDS})
    return formatter.payload(
        static, filled_quantity=order.filled_quantity, filled_quote=order.filled_quote, fee=order.fee,
        status=order.status, reason=order.reason, updated_at=order.updated_at,
    )  # fmt: skip


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
    reason = serializers.CharField(
        allow_null=True,
        help_text="Why a final order ended: `post_only_would_cross`, `fok_not_fillable`, "
        "`no_liquidity` (a market order that filled nothing), `ioc_remainder` (an IOC's unfilled rest, the whole "
        "order if nothing filled: `expired`), `self_trade`, `collar`, `market_halted`, `cancelled`, `invalid`; null "
        "otherwise.",
    )
    time_in_force = serializers.ChoiceField(choices=Order.TimeInForce.choices)
    post_only = serializers.BooleanField()
    self_trade_prevention = serializers.ChoiceField(choices=Order.SelfTradePrevention.choices)
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()
