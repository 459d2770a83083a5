"""Portfolio API (docs/api.md "Trades, portfolio, wallets": GET /portfolio) and its value history. Thin:
parse, call, render."""

from __future__ import annotations

import datetime as dt

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.utils.urls import replace_query_param
from rest_framework.views import APIView

from apps.core.fields import MoneyField
from apps.core.pagination import parse_limit, raise_errors
from apps.core.schema import integer_parameter
from apps.portfolio import selectors, services

MAX_LIMIT = 500


class AssetOutput(serializers.Serializer):
    currency = serializers.CharField()
    available = MoneyField(allow_zero=True)
    locked = MoneyField(allow_zero=True)
    total = MoneyField(allow_zero=True)
    average_cost = MoneyField(
        allow_null=True,
        help_text="Weighted average cost per unit in the valuation "
        "currency, fees included; null when nothing is held or the cost is unknown.",
    )
    price = MoneyField(
        allow_null=True,
        help_text="Last trade price in the valuation currency, through a path of "
        "markets if there is no direct one; null when there is no priced path.",
    )
    value = MoneyField(allow_null=True, allow_zero=True, help_text="total x price.")
    unrealized_pnl = MoneyField(
        allow_null=True, allow_negative=True, allow_zero=True, help_text="value - total x average_cost."
    )
    realized_pnl = MoneyField(
        allow_negative=True, allow_zero=True, help_text="Gains realized by sales (fees included)."
    )


PORTFOLIO_DOC = (
    "Balances per currency, valued in the valuation currency (`PORTFOLIO_VALUATION_CURRENCY`, USDT by default). "
    "Weighted average cost: a buy adds the quote paid to the cost basis (the fee taken from the base received "
    "raises the average), a deposit adds its value at the last price before its minute; a sale removes quantity x "
    "average cost and realizes the proceeds net of the fee minus that; a withdrawal removes quantity x average "
    "cost and realizes nothing. Amounts in the valuation currency are in its precision; prices and average costs "
    "up to 18 places. `total_cost`, `realized_pnl` and `unrealized_pnl` at the top are extensions: sums over "
    "the assets (cost and unrealized PnL over those whose cost and price are both known)."
)


class PortfolioView(APIView):
    api_key_permission = "read"

    @extend_schema(tags=["portfolio"], description=PORTFOLIO_DOC, responses={200: inline_serializer("Portfolio", {
        "valuation_currency": serializers.CharField(), "total_value": MoneyField(allow_zero=True),
        "total_cost": MoneyField(allow_zero=True), "realized_pnl": MoneyField(allow_negative=True, allow_zero=True),
        "unrealized_pnl": MoneyField(allow_negative=True, allow_zero=True),
        "assets": AssetOutput(many=True)})})  # fmt: skip
    def get(self, request):
        return Response(selectors.portfolio_payload(services.portfolio_for(request.user)))


def _date(raw: str | None, name: str, errors: dict) -> dt.date | None:
    if not raw:
        return None
    try:
        return dt.date.fromisoformat(raw) if len(raw) == 10 and raw.isascii() else _bad(name, errors)
    except ValueError:
        return _bad(name, errors)


def _bad(name: str, errors: dict) -> None:
    errors[name] = ["Must be a date, YYYY-MM-DD."]


class PortfolioHistoryView(APIView):
    api_key_permission = "read"

    @extend_schema(
        tags=["portfolio"],
        parameters=[OpenApiParameter("from", OpenApiTypes.DATE, description="First day (YYYY-MM-DD, UTC), inclusive."),
                    OpenApiParameter("to", OpenApiTypes.DATE, description="Last day, inclusive; not before `from`."),
                    integer_parameter("limit", minimum=1, maximum=MAX_LIMIT, default=100,
                                      description=f"Days per page, 1..{MAX_LIMIT} (100)."),
                    OpenApiParameter("cursor", str, description="From `next` of the previous page.")],
        responses={200: inline_serializer("PortfolioHistory", {
            "results": inline_serializer("PortfolioSnapshot", {
                "date": serializers.DateField(), "valuation_currency": serializers.CharField(),
                "total_value": MoneyField(allow_zero=True), "total_cost": MoneyField(allow_zero=True),
                "realized_pnl": MoneyField(allow_negative=True, allow_zero=True),
                "unrealized_pnl": MoneyField(allow_negative=True, allow_zero=True),
            }, many=True),
            "next": serializers.URLField(allow_null=True)})},
        description="The portfolio's value once a day (taken by a Celery beat task in the first hour of the UTC day, "
        "valued at that moment), newest first. 400 `invalid_request` for a bad date, limit or cursor.",
    )  # fmt: skip
    def get(self, request):
        params, errors = request.query_params, {}
        since, until = _date(params.get("from"), "from", errors), _date(params.get("to"), "to", errors)
        before = _date(params.get("cursor"), "cursor", errors)
        if "cursor" in errors:
            errors["cursor"] = ["Invalid cursor."]
        if since and until and since > until:
            errors["to"] = ["Must not be before `from`."]
        limit = parse_limit(params, errors, default=100, maximum=MAX_LIMIT)
        raise_errors(errors)
        rows = selectors.history(request.user, since=since, until=until, before=before, limit=limit + 1)
        next_url = None
        if len(rows) > limit:
            rows = rows[:limit]
            next_url = replace_query_param(request.build_absolute_uri(), "cursor", rows[-1].date.isoformat())
        return Response({"results": [selectors.snapshot_payload(s) for s in rows], "next": next_url})
