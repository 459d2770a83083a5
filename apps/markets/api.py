"""Market data API (API.md, Markets and market data; no authentication)."""

import json

from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.core.fields import MoneyField, format_decimal
from apps.core.redis import get_redis
from apps.markets import selectors
from apps.matching.book import checksum
from apps.matching.publish import book_cache_key


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
    status = serializers.ChoiceField(choices=["trading", "halted"])


def market_payload(market) -> dict:
    return {
        "symbol": market.symbol, "base": market.base_id, "quote": market.quote_id,
        "tick_size": _step(market.tick_size), "lot_size": _step(market.lot_size),
        "min_notional": _step(market.min_notional), "maker_fee": _step(market.maker_fee),
        "taker_fee": _step(market.taker_fee), "status": market.status,
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
        tags=["markets"], parameters=[OpenApiParameter("depth", int, description="levels per side, 1..500 (100)")],
        responses={200: inline_serializer("Book", {
            "symbol": serializers.CharField(), "sequence": serializers.IntegerField(),
            "bids": serializers.ListField(child=serializers.ListField(child=serializers.CharField())),
            "asks": serializers.ListField(child=serializers.ListField(child=serializers.CharField())),
            "checksum": serializers.IntegerField()})},
        description="From the matcher's cache in Redis; `sequence` lines up with the WebSocket updates. "
        "404 `unknown_market`.",
    )  # fmt: skip
    def get(self, request, symbol: str):
        market = selectors.market_by_symbol(symbol)
        raw = request.query_params.get("depth", "100")
        if not raw.isascii() or not raw.isdigit() or not 1 <= int(raw) <= 500:
            raise serializers.ValidationError({"depth": ["Must be an integer from 1 to 500."]})
        depth = int(raw)
        cached = get_redis().get(book_cache_key(market.symbol))
        book = json.loads(cached) if cached else {"sequence": 0, "bids": [], "asks": []}
        bids, asks = book["bids"][:depth], book["asks"][:depth]
        return Response({"symbol": market.symbol, "sequence": book["sequence"], "bids": bids, "asks": asks,
                         "checksum": checksum(bids, asks)})  # fmt: skip
