"""A currency's price in the valuation currency, through a path of markets.

Markets form a graph (each one an edge between its base and quote). A currency's price is the
product of the last trade prices along the shortest path to the valuation currency: BTC through
BTC-USDT, ETH through ETH-BTC then BTC-USDT when there is no ETH-USDT. Going from a market's quote to
its base divides by the price. Markets without a price (no trade yet, or none before the moment
asked for) are not part of the graph; among paths of the same length the first by market symbol
wins, so the answer is deterministic.
"""

from __future__ import annotations

import datetime as dt
from collections import deque
from collections.abc import Callable
from decimal import Decimal, localcontext

from django.db import connection

from apps.markets.models import Market

PRECISION = 40  # significant digits for path products and divisions (prices are at most 36)


class MarketGraph:
    def __init__(self, valuation: str):
        self.valuation = valuation
        rows = Market.objects.order_by("symbol").values_list("id", "symbol", "base_id", "quote_id")
        self.markets = {id_: (symbol, base, quote) for id_, symbol, base, quote in rows}
        self.edges: dict[str, list[tuple[int, str, bool]]] = {}  # currency -> (market, other, currency_is_base)
        for id_, (_symbol, base, quote) in self.markets.items():
            self.edges.setdefault(base, []).append((id_, quote, True))
            self.edges.setdefault(quote, []).append((id_, base, False))

    def price(self, currency: str, price_of: Callable[[int], Decimal | None]) -> Decimal | None:
        """`currency` in the valuation currency, or None when no priced path exists. `price_of(market_id)`
        gives a market's price at the moment wanted (memoised here: each market is asked once)."""
        if currency == self.valuation:
            return Decimal(1)
        known: dict[int, Decimal | None] = {}

        def edge_price(market_id):
            if market_id not in known:
                known[market_id] = price_of(market_id)
            return known[market_id]

        # Breadth-first from the currency; `rate` is the currency's price in the node's currency.
        seen, queue = {currency}, deque([(currency, Decimal(1))])
        with localcontext() as ctx:
            ctx.prec = PRECISION
            while queue:
                node, rate = queue.popleft()
                for market_id, other, node_is_base in self.edges.get(node, ()):
                    if other in seen:
                        continue
                    price = edge_price(market_id)
                    if not price:
                        continue
                    other_rate = rate * price if node_is_base else rate / price
                    if other == self.valuation:
                        return other_rate
                    seen.add(other)
                    queue.append((other, other_rate))
        return None


def last_prices() -> dict[int, Decimal]:
    """Every market's last trade price now (one index probe per market)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT m.id, t.price FROM markets_market m CROSS JOIN LATERAL (SELECT price FROM trades_trade "
            "WHERE market_id = m.id ORDER BY id DESC LIMIT 1) t"
        )
        return dict(cursor.fetchall())


def price_before_trade(market_id: int, trade_id: int) -> Decimal | None:
    """The market's last price before a given trade settled (the (market, -id) index)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT price FROM trades_trade WHERE market_id = %s AND id < %s ORDER BY id DESC LIMIT 1",
            [market_id, trade_id],
        )
        row = cursor.fetchone()
    return row[0] if row else None


def price_before_minute(market_id: int, when: dt.datetime) -> Decimal | None:
    """The market's last price before the minute of `when` began: the close of its last one-minute
    candle before that minute (one probe of the candle index). Deposits are valued so."""
    minute = when.replace(second=0, microsecond=0)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT close FROM markets_candle WHERE market_id = %s AND \"interval\" = '1m' AND open_time < %s "
            "ORDER BY open_time DESC LIMIT 1",
            [market_id, minute],
        )
        row = cursor.fetchone()
    return row[0] if row else None
