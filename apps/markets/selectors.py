"""Market reads: the registry, and market data (candles, 24-hour ticker). A market's recent trades are
read by apps.trades, which owns them; the ticker's one query reads the latest trade's price from its
table in SQL (one round trip for the whole ticker, no import of the app above)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

from django.db import connection
from django.utils import timezone

from apps.core.fields import format_in_precision, format_time
from apps.markets import book as market_book
from apps.markets import registry
from apps.markets.exceptions import UnknownMarket
from apps.markets.models import (
    CANDLE_INTERVALS,
    KILL_SWITCH,
    Candle,
    Market,
    decimals_of,
    interval_start,
    is_halted,
)


def markets():
    return Market.objects.select_related("base", "quote").order_by("symbol")


SYMBOL = re.compile(r"[A-Z0-9]{1,10}-[A-Z0-9]{1,10}")


def market_by_symbol(symbol: str) -> Market:
    """The market (a copy of this process's cached registry, apps.markets.registry: no query, no Redis
    round trip within a request), or UnknownMarket (404 `unknown_market`). Symbols are matched
    upper-cased; anything not shaped like BASE-QUOTE is unknown at once."""
    valid = isinstance(symbol, str) and SYMBOL.fullmatch(symbol.upper())
    market = registry.market(symbol.upper()) if valid else None
    if market is None:
        raise UnknownMarket(details={"symbol": symbol})
    return market


def candles(market: Market, interval: str, limit: int, end: datetime | None = None) -> list[list[str]]:
    """The last `limit` candles of `interval` up to and including the one holding `end` (now),
    oldest first, as [open_time, open, high, low, close, volume] strings in the market's precision.
    An interval without trades repeats the previous close with volume 0; nothing is returned for the
    intervals before the market's first trade. Two indexed queries."""
    step = CANDLE_INTERVALS[interval]
    last = interval_start(end or timezone.now(), interval)
    first = last - step * (limit - 1)
    own = Candle.objects.filter(market=market, interval=interval)
    rows = {
        row[0]: row
        for row in own.filter(open_time__range=(first, last)).values_list(
            "open_time", "open", "high", "low", "close", "volume"
        )
    }
    close = own.filter(open_time__lt=first).order_by("-open_time").values_list("close", flat=True).first()
    pd, qd = market.price_decimals, market.quantity_decimals
    no_volume = format_in_precision(0, qd)
    result = []
    for n in range(limit):
        open_time = first + step * n
        row = rows.get(open_time)
        if row is not None:
            close = row[4]
            result.append([format_time(open_time), *(format_in_precision(p, pd) for p in row[1:5]),
                           format_in_precision(row[5], qd)])  # fmt: skip
        elif close is not None:
            price = format_in_precision(close, pd)
            result.append([format_time(open_time), price, price, price, price, no_volume])
    return result


TICKER_WINDOW = timedelta(hours=24)


def ticker(market: Market, now: datetime | None = None) -> dict:
    """The 24-hour ticker as a JSON-ready dict (REST and the WebSocket ticker channel).

    The window is the last 1440 one-minute candles, the current one included (24 hours at one-minute
    granularity). `last` is the latest trade's price, `bid`/`ask` the best levels of the matcher's
    book cache. `change_24h` is the percent change from `open_24h` (the window's first price) to
    `last`, two decimals. Without a trade in the window high, low, open and change are null and the
    volumes zero; `last` is null until the first trade. `status` is `trading` or `halted` (the book
    and ticker channels also get a status message when it changes). One SQL query and one Redis GET."""
    now = now or timezone.now()
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT (SELECT price FROM trades_trade WHERE market_id = %s ORDER BY id DESC LIMIT 1), "
            "(array_agg(open ORDER BY open_time))[1], max(high), min(low), sum(volume), sum(quote_volume), "
            "(SELECT array[status, status_reason, extract(epoch FROM halted_until)::text] FROM markets_market "
            "WHERE id = %s) "
            'FROM markets_candle WHERE market_id = %s AND "interval" = %s AND open_time > %s',
            [market.pk, market.pk, market.pk, Candle.Interval.MINUTE, now - TICKER_WINDOW],
        )
        last, open_, high, low, volume, quote_volume, (status, reason, until) = cursor.fetchone()
    until = None if until is None else datetime.fromtimestamp(float(until), tz=UTC)
    book = market_book.snapshot(market.symbol) or {"bids": [], "asks": []}
    pd, qd = market.price_decimals, market.quantity_decimals

    def price(value):
        return None if value is None else format_in_precision(value, pd)

    change = None
    if open_ is not None and last is not None:
        change = ((last - open_) * 100 / open_).quantize(Decimal("0.01"), ROUND_HALF_UP)
        change = format(change if change else abs(change), "f")  # never "-0.00"
    return {
        "symbol": market.symbol,
        "last": price(last),
        "bid": book["bids"][0][0] if book["bids"] else None,
        "ask": book["asks"][0][0] if book["asks"] else None,
        "open_24h": price(open_),
        "high_24h": price(high),
        "low_24h": price(low),
        "volume_24h": format_in_precision(volume or 0, qd),
        # price x quantity is a whole number of notional units (tick x lot): exact at their decimals.
        "quote_volume_24h": format_in_precision(quote_volume or 0, decimals_of(market.notional_unit)),
        "change_24h": change,
        "status": "halted" if is_halted(status, reason, until, now) else "trading",
    }


def market_statuses(now: datetime | None = None) -> dict:
    """Every market's status for the admin dashboard, one query: {markets: [{id, symbol, status,
    status_reason, halted_until, halted}], halted: the halted ones, kill_switch: whether the kill
    switch is engaged (a market halted with its reason)}. `halted` is the status at `now` (a circuit
    breaker halt whose cool-down has ended no longer counts)."""
    now = now or timezone.now()
    rows = list(Market.objects.order_by("symbol").values("id", "symbol", "status", "status_reason", "halted_until"))
    for row in rows:
        row["halted"] = is_halted(row["status"], row["status_reason"], row["halted_until"], now)
    halted = [row for row in rows if row["halted"]]
    return {"markets": rows, "halted": halted, "kill_switch": any(r["status_reason"] == KILL_SWITCH for r in halted)}
