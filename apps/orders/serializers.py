"""Order input and output in the docs/api.md shape (decimal strings in the market's precision)."""

from __future__ import annotations

import re

from drf_spectacular.extensions import OpenApiSerializerExtension
from rest_framework import serializers

from apps.core.fields import MoneyField, format_in_precision, format_time, money_schema
from apps.orders.models import Order


class StrictBooleanField(serializers.BooleanField):
    """true or false, not DRF's "yes", 1 or "on"."""

    def to_internal_value(self, data):
        if not isinstance(data, bool):
            raise serializers.ValidationError("Must be true or false.")
        return data


class OrderInput(serializers.Serializer):
    symbol = serializers.CharField(max_length=24)
    side = serializers.ChoiceField(choices=Order.Side.choices)
    type = serializers.ChoiceField(choices=Order.Type.choices)
    quantity = MoneyField(required=False)
    quote_quantity = MoneyField(required=False, help_text="Market (and stop-market) buys: spend this much quote.")
    price = MoneyField(required=False)
    stop_price = MoneyField(required=False)
    time_in_force = serializers.ChoiceField(choices=Order.TimeInForce.choices, default=Order.TimeInForce.GTC)
    post_only = StrictBooleanField(default=False)
    client_order_id = serializers.RegexField(r"^[A-Za-z0-9_.:\-]{1,64}$", required=False,
                                             help_text="Up to 64 of A-Z a-z 0-9 _ . : -")  # fmt: skip
    self_trade_prevention = serializers.ChoiceField(
        choices=Order.SelfTradePrevention.choices, default=Order.SelfTradePrevention.CANCEL_RESTING,
        help_text="When the order would trade with one of your own: cancel the resting one (default) or this one.",
    )  # fmt: skip

    def check_each(self, orders: list) -> list[tuple[dict | None, dict | None]]:
        """Each of `orders` validated on its own by this one instance (no copy of the fields per
        order): (validated data, None) or (None, its errors)."""
        out = []
        for raw in orders:
            accepted = self.accept_plain(raw)
            if accepted is not None:
                out.append((accepted, None))
                continue
            try:
                out.append((self.run_validation(raw), None))
            except serializers.ValidationError as invalid:
                out.append((None, invalid.detail))
        return out

    def accept_plain(self, raw) -> dict | None:
        """The validated data of a plainly good order, without DRF's field machinery (a third of
        validation's CPU), or None: anything unusual (a missing or null field, another JSON type, a
        string with spaces, a bad value) is left to run_validation, which answers exactly as before
        and words every error. Only ever accepts what run_validation accepts, with the same data
        (test_serializer_equivalence)."""
        if type(raw) is not dict:
            return None
        get = raw.get
        symbol, side, kind = get("symbol"), get("side"), get("type")
        if type(symbol) is not str or not _PLAIN_SYMBOL.fullmatch(symbol) or type(side) is not str \
                or side not in _SIDES or type(kind) is not str or kind not in _TYPES:  # fmt: skip
            return None
        fields = self.fields
        data = {"symbol": symbol, "side": side, "type": kind}
        for name in _MONEY:
            value = get(name, _ABSENT)
            if value is _ABSENT:
                continue
            if type(value) is not str:
                return None
            try:
                data[name] = fields[name].to_internal_value(value)
            except serializers.ValidationError:
                return None
        for name, allowed in (("time_in_force", _TIFS), ("self_trade_prevention", _STPS)):
            value = get(name, _ABSENT)
            if value is _ABSENT:
                data[name] = fields[name].default
            elif type(value) is str and value in allowed:
                data[name] = value
            else:
                return None
        post_only = get("post_only", _ABSENT)
        if post_only is _ABSENT:
            data["post_only"] = fields["post_only"].default
        elif type(post_only) is bool:
            data["post_only"] = post_only
        else:
            return None
        client_order_id = get("client_order_id", _ABSENT)
        if client_order_id is not _ABSENT:
            if type(client_order_id) is not str or not _PLAIN_CLIENT_ORDER_ID.fullmatch(client_order_id):
                return None
            data["client_order_id"] = client_order_id
        return data


# What OrderInput.accept_plain takes without DRF: ASCII with nothing to trim, within the fields' limits.
_PLAIN_SYMBOL = re.compile(r"[A-Za-z0-9-]{1,24}")
_PLAIN_CLIENT_ORDER_ID = re.compile(r"[A-Za-z0-9_.:\-]{1,64}")
_SIDES = tuple(value for value, _ in Order.Side.choices)
_TYPES = tuple(value for value, _ in Order.Type.choices)
_TIFS = tuple(value for value, _ in Order.TimeInForce.choices)
_STPS = tuple(value for value, _ in Order.SelfTradePrevention.choices)
_MONEY = ("quantity", "quote_quantity", "price", "stop_price")
_ABSENT = object()


class OrderInputSchema(OpenApiSerializerExtension):
    """OrderInput as the server validates it (services.validate_order): one shape per order type, so
    the schema says which fields go together. Amounts are positive decimal strings below 10^15; the
    market's tick, lot and minimum notional (GET /markets) are checked after this."""

    target_class = OrderInput

    def map_serializer(self, auto_schema, direction):
        fields = auto_schema._map_basic_serializer(self.target, direction)["properties"]
        fields["symbol"] = {**fields["symbol"], "example": "BTC-USDT"}
        for name in ("quantity", "quote_quantity", "price", "stop_price"):
            described = {"description": fields[name]["description"]} if "description" in fields[name] else {}
            fields[name] = {**money_schema(allow_negative=False, allow_zero=False, integer_digits=15), **described}
        common = ("symbol", "side", "type", "time_in_force", "self_trade_prevention", "client_order_id")

        def only(json_type, value):
            # One allowed value. Wrapped so that drf-spectacular's enum hook leaves it inline
            # instead of merging it into the shared enum component of the field's name.
            return {"allOf": [{"type": json_type, "enum": [value]}]}

        def shape(title, order_type, required, *, buy_only=False, rests=False):
            properties = {name: fields[name] for name in (*common, *required)}
            properties["type"] = only("string", order_type)
            if buy_only:
                properties["side"] = only("string", "buy")
            # post_only: only an order that can rest (limit, stop-limit) with time_in_force gtc.
            properties["post_only"] = fields["post_only"] if rests else only("boolean", False)
            variant = {"type": "object", "title": title, "properties": properties,
                       "required": ["symbol", "side", "type", *required], "additionalProperties": False}  # fmt: skip
            if rests:
                variant["not"] = {"required": ["post_only", "time_in_force"], "properties": {
                    "post_only": {"enum": [True]}, "time_in_force": {"enum": ["ioc", "fok"]}}}  # fmt: skip
            return variant

        # The fields every shape requires, at the top too: drf-spectacular then marks the body required
        # (no "type": an object schema without "properties" would be dropped as empty).
        return {"required": ["symbol", "side", "type"], "oneOf": [
            shape("Limit", "limit", ("price", "quantity"), rests=True),
            shape("StopLimit", "stop_limit", ("price", "stop_price", "quantity"), rests=True),
            shape("Market", "market", ("quantity",)),
            shape("MarketBuyByQuote", "market", ("quote_quantity",), buy_only=True),
            shape("StopMarket", "stop_market", ("stop_price", "quantity")),
            shape("StopMarketBuyByQuote", "stop_market", ("stop_price", "quote_quantity"), buy_only=True),
        ]}  # fmt: skip


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
    status = serializers.ChoiceField(
        choices=Order.Status.choices,
        help_text="`new`: accepted, queued or resting; the first `order` message on the private WebSocket `orders` "
        "channel says the matcher has applied it (a limit order then rests in the book).",
    )
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


MAX_BATCH = 20


class BatchPlaceInput(serializers.Serializer):
    """POST /orders/batch: 1 to 20 orders, each shaped as for POST /orders and validated on its own
    (the view answers each one's errors, and a repeated client_order_id, in its place)."""

    orders = serializers.ListField(child=serializers.DictField(), min_length=1, max_length=MAX_BATCH,
                                   help_text=f"1 to {MAX_BATCH} orders, each as for POST /orders.")  # fmt: skip


class BatchCancelInput(serializers.Serializer):
    """DELETE /orders/batch?ids=1,2,3 (a query parameter: many HTTP clients drop a DELETE's body)."""

    ids = serializers.CharField(max_length=MAX_BATCH * 20, help_text=f"1 to {MAX_BATCH} order ids, comma-separated.")

    def validate_ids(self, value: str) -> list[int]:
        parts = value.split(",")
        if not all(part.isascii() and part.isdigit() and len(part) <= 20 for part in parts):
            raise serializers.ValidationError("Order ids (positive integers), comma-separated.")
        if len(parts) > MAX_BATCH:
            raise serializers.ValidationError(f"At most {MAX_BATCH} ids.")
        return [int(part) for part in parts]


def repeats(values: list) -> dict[int, int]:
    """{position: position of its first occurrence} for each value seen before in `values` (None and
    "" never repeat): a batch refuses each repeat in its place."""
    first: dict = {}
    out = {}
    for index, value in enumerate(values):
        if value in (None, ""):
            continue
        if value in first:
            out[index] = first[value]
        else:
            first[value] = index
    return out


class BatchPlaceResult(serializers.Serializer):
    """One order's outcome: `status` is the HTTP status POST /orders would have answered (201 placed,
    200 a repeated client_order_id, 4xx refused), with `order` or `error` (docs/api.md's error object)."""

    status = serializers.IntegerField()
    order = OrderOutput(required=False)
    error = serializers.DictField(required=False, help_text="`{code, message, details}` as docs/api.md's errors.")


class BatchPlaceOutput(serializers.Serializer):
    results = BatchPlaceResult(many=True, help_text="In the order of the request's `orders`.")
