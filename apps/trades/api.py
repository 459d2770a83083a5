"""Own fills (docs/api.md "Trades, portfolio, wallets"): a cursor-paginated list and a streamed CSV
export. Thin: parse the query, call the selector, render."""

from __future__ import annotations

import csv
import io

from asgiref.sync import sync_to_async
from django.http import StreamingHttpResponse
from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.utils.urls import replace_query_param
from rest_framework.views import APIView

from apps.core.fields import MoneyField, parse_time_param
from apps.core.pagination import parse_limit, raise_errors
from apps.core.schema import TIME, integer_parameter
from apps.markets.selectors import market_by_symbol
from apps.trades import selectors
from apps.trades.models import Trade

MAX_LIMIT = 500
FILTERS = [
    OpenApiParameter("symbol", str, description="One market (404 `unknown_market` if there is none)."),
    OpenApiParameter("from", TIME, description="Fills at or after this time: ISO-8601 (UTC when no offset; a date is "
                     "its midnight UTC) or unix milliseconds, from 1970 to 9998."),
    OpenApiParameter("to", TIME, description="Fills before this time (exclusive), same forms as `from`; after `from`."),
    integer_parameter("order_id", minimum=1, maximum=2**63 - 1, description="Fills of one of your orders."),
]  # fmt: skip


class FillOutput(serializers.Serializer):
    id = serializers.IntegerField(help_text="The trade id (shared with the other side).")
    order_id = serializers.IntegerField()
    symbol = serializers.CharField()
    side = serializers.ChoiceField(choices=Trade.Side.choices)
    price = MoneyField(help_text="In the market's price precision.")
    quantity = MoneyField(help_text="Base amount, in the market's quantity precision.")
    fee = MoneyField(allow_zero=True, help_text="Taken from what this side received, in `fee_currency`'s precision.")
    fee_currency = serializers.CharField(help_text="Base for a buy, quote for a sell.")
    liquidity = serializers.ChoiceField(choices=["maker", "taker"])
    time = serializers.CharField(help_text="ISO-8601 UTC with milliseconds.")


def parse_filter(params, errors: dict) -> selectors.FillFilter:
    market = market_by_symbol(params["symbol"]) if params.get("symbol") else None
    times = {}
    for name in ("from", "to"):
        raw = params.get(name)
        if raw:
            try:
                times[name] = parse_time_param(raw)
            except (ValueError, OverflowError):
                errors[name] = ["Must be an ISO-8601 time or unix milliseconds."]
    if "from" in times and "to" in times and times["from"] >= times["to"]:
        errors["to"] = ["Must be after `from`."]
    order_id = None
    raw = params.get("order_id")
    if raw is not None:
        if raw.isascii() and raw.isdigit() and 0 < int(raw) < 2**63:
            order_id = int(raw)
        else:
            errors["order_id"] = ["Must be a positive integer."]
    return selectors.FillFilter(market=market, since=times.get("from"), until=times.get("to"), order_id=order_id)


class FillListView(APIView):
    api_key_permission = "read"

    @extend_schema(
        tags=["trades"],
        parameters=[*FILTERS, integer_parameter("limit", minimum=1, maximum=MAX_LIMIT, default=100,
                                                        description=f"Fills per page, 1..{MAX_LIMIT} (100)."),
                    OpenApiParameter("cursor", str, description="From `next` of the previous page.")],
        responses={200: inline_serializer("FillPage", {"results": FillOutput(many=True),
                                                       "next": serializers.URLField(allow_null=True)})},
        description="Your fills, newest first (by time, then id), one row per side you took in a trade. The "
        "cursor keeps its place while new fills arrive (they sort before it): paging through never repeats or "
        "skips a fill. 400 `invalid_request` (bad filter, limit or cursor), 404 `unknown_market`.",
    )  # fmt: skip
    def get(self, request):
        errors: dict = {}
        flt = parse_filter(request.query_params, errors)
        limit = parse_limit(request.query_params, errors, default=100, maximum=MAX_LIMIT)
        after = None
        if request.query_params.get("cursor"):
            try:
                after = selectors.Position.decode(request.query_params["cursor"])
            except selectors.InvalidCursor:
                errors["cursor"] = ["Invalid cursor."]
        raise_errors(errors)
        rows = selectors.fills_page(request.user, flt, after=after, limit=limit + 1)
        more = len(rows) > limit
        rows = rows[:limit]
        renderer = selectors.FillRenderer()
        next_url = None
        if more:
            url = request.build_absolute_uri()
            next_url = replace_query_param(url, "cursor", selectors.Position(rows[-1][8], rows[-1][0]).encode())
        return Response({"results": [renderer.payload(row) for row in rows], "next": next_url})


class FillExportView(APIView):
    api_key_permission = "read"

    @extend_schema(
        tags=["trades"], parameters=FILTERS,
        responses={(200, "text/csv"): OpenApiResponse(
            description="`id,order_id,symbol,side,price,quantity,fee,fee_currency,liquidity,time`, one row per "
            "fill, newest first.")},
        description="The same fills as GET /trades for any range, as CSV, streamed as it is read (no size limit). "
        "400 `invalid_request`, 404 `unknown_market`.",
    )  # fmt: skip
    def get(self, request):
        errors: dict = {}
        flt = parse_filter(request.query_params, errors)
        raise_errors(errors)
        response = StreamingHttpResponse(_csv_stream(request.user, flt), content_type="text/csv; charset=utf-8")
        stamp = timezone.now().strftime("%Y%m%dT%H%M%SZ")
        response["Content-Disposition"] = f'attachment; filename="fills-{stamp}.csv"'
        response["Cache-Control"] = "no-store"
        return response


async def _csv_stream(user, flt: selectors.FillFilter, chunk: int = 1000):
    """An async iterator, so the ASGI server sends each chunk as it is read (Django would read a sync
    iterator to its end first). Each chunk is one keyset page read in a worker thread."""
    renderer = selectors.FillRenderer()
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(selectors.FIELDS)
    yield buffer.getvalue()

    def page(after):
        rows = selectors.fills_page(user, flt, after=after, limit=chunk)
        buffer.seek(0)
        buffer.truncate()
        writer.writerows(renderer.values(row) for row in rows)
        last = selectors.Position(rows[-1][8], rows[-1][0]) if len(rows) == chunk else None
        return buffer.getvalue(), last

    after = None
    while True:
        text, after = await sync_to_async(page)(after)
        if text:
            yield text
        if after is None:
            return


class PublicTradesView(APIView):
    """`GET /markets/{symbol}/trades`: a market's public trades (trades owns the table it reads)."""

    permission_classes = [AllowAny]
    authentication_classes = []

    @extend_schema(
        tags=["markets"], parameters=[integer_parameter("limit", minimum=1, maximum=500, default=100,
                                                          description="Trades, 1..500 (100).")],
        responses={200: inline_serializer("PublicTrade", {
            "id": serializers.IntegerField(),
            "price": MoneyField(help_text="In the market's price precision."),
            "quantity": MoneyField(help_text="Base amount, in the market's quantity precision."),
            "taker_side": serializers.ChoiceField(choices=["buy", "sell"], help_text="Side of the order that took "
                                                  "liquidity: `buy` means the price was lifted."),
            "time": serializers.CharField(help_text="ISO-8601 UTC with milliseconds.")}, many=True)},
        description="The market's most recent trades, newest first: a plain list (like Binance's recent trades), "
        "not a paginated one. 400 `invalid_request`, 404 `unknown_market`.",
    )  # fmt: skip
    def get(self, request, symbol: str):
        market = market_by_symbol(symbol)
        errors: dict = {}
        limit = parse_limit(request.query_params, errors, default=100, maximum=500)
        raise_errors(errors)
        return Response(selectors.recent_trades(market, limit))
