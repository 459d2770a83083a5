"""Market data API (docs/api.md "Markets and market data"; no authentication)."""

from django.conf import settings
from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.core.fields import MoneyField, format_decimal, format_time
from apps.core.pagination import parse_limit, raise_errors
from apps.core.schema import integer_parameter
from apps.markets import book as market_book
from apps.markets import selectors
from apps.markets.models import Candle


def _step(value) -> str:
    return format_decimal(value.normalize())


class MarketOutput(serializers.Serializer):
    symbol = serializers.CharField()
    base = serializers.CharField()
    quote = serializers.CharField()
    tick_size = MoneyField()
    lot_size = MoneyField()
    min_notional = MoneyField(allow_zero=True)
    maker_fee = MoneyField(allow_zero=True)
    taker_fee = MoneyField(allow_zero=True)
    max_order_quantity = MoneyField(allow_null=True, help_text="Largest quantity of one order; null: no limit.")
    max_order_notional = MoneyField(allow_null=True, help_text="Largest price x quantity of one order (quote).")
    price_band = MoneyField(
        allow_null=True,
        help_text="A limit price more than this fraction from the reference "
        "price (last trade, or the book's mid before the first) is refused: 0.1 = 10 %.",
    )
    max_open_orders = serializers.IntegerField(allow_null=True, help_text="Open orders per user on this market.")
    market_order_collar = MoneyField(
        allow_null=True, help_text="A market order trades no further than this fraction from the best price when "
        "it starts matching; the rest expires with reason `collar`.")  # fmt: skip
    breaker_move = MoneyField(allow_null=True, help_text="Circuit breaker: a move larger than this fraction within "
                              "`breaker_window_seconds` halts the market; null: no breaker.")  # fmt: skip
    breaker_window_seconds = serializers.IntegerField()
    breaker_cooldown_seconds = serializers.IntegerField(
        allow_null=True, help_text="How long a breaker halt lasts; null: until staff resume it."
    )
    status = serializers.ChoiceField(choices=["trading", "halted"])
    halt_reason = serializers.CharField(allow_null=True, help_text="`circuit_breaker`, `kill_switch` or staff's text.")
    resumes_at = serializers.DateTimeField(allow_null=True, help_text="End of a circuit-breaker halt.")


def _optional(value):
    return None if value is None else _step(value)


def market_payload(market) -> dict:
    halted = market.halted_at(timezone.now())
    return {
        "symbol": market.symbol, "base": market.base_id, "quote": market.quote_id,
        "tick_size": _step(market.tick_size), "lot_size": _step(market.lot_size),
        "min_notional": _step(market.min_notional), "maker_fee": _step(market.maker_fee),
        "taker_fee": _step(market.taker_fee), "max_order_quantity": _optional(market.max_order_quantity),
        "max_order_notional": _optional(market.max_order_notional), "price_band": _optional(market.price_band),
        "max_open_orders": market.max_open_orders, "market_order_collar": _optional(market.market_order_collar),
        "breaker_move": _optional(market.breaker_move), "breaker_window_seconds": market.breaker_window_seconds,
        "breaker_cooldown_seconds": market.breaker_cooldown_seconds,
        "status": "halted" if halted else "trading", "halt_reason": market.status_reason if halted else None,
        "resumes_at": format_time(market.halted_until) if halted and market.halted_until else None,
    }  # fmt: skip


class MarketListView(APIView):
    permission_classes = [AllowAny]
    authentication_classes = []

    @extend_schema(tags=["markets"], responses={200: MarketOutput(many=True)})
    def get(self, request):
        return Response([market_payload(m) for m in selectors.markets()])


class BookView(APIView):
    permission_classes = [AllowAny]
    authentication_classes = []

    @extend_schema(
        tags=["markets"], parameters=[integer_parameter(
            "depth", minimum=1, maximum=settings.BOOK_MAX_DEPTH, default=100,
            description=f"Levels per side, 1..{settings.BOOK_MAX_DEPTH} (`BOOK_MAX_DEPTH`).")],
        responses={200: inline_serializer("Book", {
            "symbol": serializers.CharField(), "sequence": serializers.IntegerField(),
            "bids": serializers.ListField(child=serializers.ListField(child=serializers.CharField())),
            "asks": serializers.ListField(child=serializers.ListField(child=serializers.CharField())),
            "checksum": serializers.IntegerField(),
            "time": serializers.DateTimeField(help_text="When the server read the book (its clock, UTC).")})},
        description="From the matcher's cache in Redis; `sequence` lines up with the WebSocket updates. "
        "`checksum`: CRC32 (unsigned) of the first min(depth, 10) asks (lowest first) then as many bids (highest "
        "first), each level as price then quantity with the decimal point removed and leading zeros stripped, "
        "concatenated; the WebSocket book of the same depth at the same sequence carries the same checksum. "
        "400 `invalid_request` (bad depth), 404 `unknown_market`.",
    )  # fmt: skip
    def get(self, request, symbol: str):
        market = selectors.market_by_symbol(symbol)
        raw = request.query_params.get("depth", "100")
        limit = settings.BOOK_MAX_DEPTH
        if not raw.isascii() or not raw.isdigit() or len(raw) > 9 or not 1 <= int(raw) <= limit:
            raise serializers.ValidationError({"depth": [f"Must be an integer from 1 to {limit}."]})
        depth = int(raw)
        book = market_book.snapshot(market.symbol) or {"sequence": 0, "bids": [], "asks": []}
        read_at = timezone.now()
        bids, asks = book["bids"][:depth], book["asks"][:depth]
        return Response({"symbol": market.symbol, "sequence": book["sequence"], "bids": bids, "asks": asks,
                         "checksum": market_book.checksum(bids, asks), "time": format_time(read_at)})  # fmt: skip


class TickerView(APIView):
    permission_classes = [AllowAny]
    authentication_classes = []

    @extend_schema(
        tags=["markets"],
        responses={200: inline_serializer("Ticker", {
            "symbol": serializers.CharField(),
            "last": MoneyField(allow_null=True, help_text="Price of the latest trade; null before the first."),
            "bid": MoneyField(allow_null=True, help_text="Best bid of the book; null when there is none."),
            "ask": MoneyField(allow_null=True, help_text="Best ask of the book; null when there is none."),
            "open_24h": MoneyField(allow_null=True, help_text="Extension: first price of the 24-hour window."),
            "high_24h": MoneyField(allow_null=True, help_text="Highest price in the window."),
            "low_24h": MoneyField(allow_null=True, help_text="Lowest price in the window."),
            "volume_24h": MoneyField(allow_zero=True, help_text="Base quantity traded in the window."),
            "quote_volume_24h": MoneyField(allow_zero=True, help_text="Quote value (price x quantity) traded in "
                                           "the window, at the decimals of tick x lot."),
            "change_24h": serializers.CharField(allow_null=True, help_text="Percent change from `open_24h` to "
                                                "`last`, two decimals, signed (`\"-1.25\"` is -1.25 %); null "
                                                "without a trade in the window."),
            "status": serializers.ChoiceField(choices=["trading", "halted"], help_text="Extension: whether the "
                                              "market takes new orders now (GET /markets says why not).")})},
        description="Rolling 24 hours at one-minute granularity: the current minute and the 1439 before it. "
        "Prices in the market's price precision, `volume_24h` in its quantity precision; null where there is no "
        "data (volumes are zero). The WebSocket `ticker` channel sends the same fields. 404 `unknown_market`.",
    )  # fmt: skip
    def get(self, request, symbol: str):
        return Response(selectors.ticker(selectors.market_by_symbol(symbol)))


class CandlesView(APIView):
    permission_classes = [AllowAny]
    authentication_classes = []

    @extend_schema(
        tags=["markets"],
        parameters=[
            OpenApiParameter("interval", str, enum=Candle.Interval.values, default="1m",
                             description="Candle length; intervals align to UTC (a day starts at 00:00 UTC)."),
            integer_parameter("limit", minimum=1, maximum=1000, default=100, description="Candles, 1..1000 (100)."),
        ],
        responses={200: {"type": "array", "items": {
            "type": "array", "minItems": 6, "maxItems": 6, "items": {"type": "string"},
            "description": "[open_time, open, high, low, close, volume]"},
            "example": [["2026-11-22T10:00:00.000Z", "100.00", "101.50", "99.75", "101.00", "1.2500"]]}},
        description="The last `limit` candles up to and including the current (still open) one, oldest first: "
        "`[open_time, open, high, low, close, volume]`, open_time ISO-8601 UTC with milliseconds, prices in the "
        "market's price precision, volume (base) in its quantity precision. An interval without trades repeats "
        "the previous close with volume 0; nothing is returned before the market's first trade. `interval` "
        "defaults to `1m`. 400 `invalid_request`, 404 `unknown_market`.",
    )  # fmt: skip
    def get(self, request, symbol: str):
        market = selectors.market_by_symbol(symbol)
        errors: dict = {}
        interval = request.query_params.get("interval", Candle.Interval.MINUTE)
        if interval not in Candle.Interval.values:
            errors["interval"] = [f"Must be one of {', '.join(Candle.Interval.values)}."]
        limit = parse_limit(request.query_params, errors, default=100, maximum=1000)
        raise_errors(errors)
        return Response(selectors.candles(market, interval, limit))
