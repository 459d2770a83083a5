"""Pre-trade risk checks (docs/risk-controls.md): each a small function of one order, run in one
place (`run`) by order entry after the market's filters and before any hold is taken.

A market configures them in the admin (Market.max_order_quantity, max_order_notional, price_band,
max_open_orders); an empty field turns its check off. `PRE_TRADE_CHECKS=false` turns them all off
(the benchmark measures their cost that way).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

import redis
from django.conf import settings
from django.db import connection

from apps.core.redis import get_redis
from apps.markets import book as market_book
from apps.markets.models import Market
from apps.orders import selectors
from apps.orders.exceptions import AboveMaxNotional, AboveMaxQuantity, PriceOutOfBand, TooManyOpenOrders
from apps.orders.models import Order


@dataclass
class Proposed:
    """One order as the checks see it. `notional` is the order's estimated value in quote (None when
    it cannot be known: a market order before the first trade)."""

    market: Market
    user_id: int
    side: str
    type: str
    quantity: Decimal | None
    price: Decimal | None
    notional: Decimal | None


logger = logging.getLogger(__name__)
_last_prices: dict[int, tuple[float, Decimal | None]] = {}  # market id -> (read at, last price)


def reference_price(market: Market) -> Decimal | None:
    """The last trade price (read at most every PRICE_BAND_REFERENCE_SECONDS per process: a band
    check needs no fresher price than that), else the mid of the cached book."""
    now = time.monotonic()
    read_at, last = _last_prices.get(market.pk, (-math.inf, None))
    if now - read_at >= settings.PRICE_BAND_REFERENCE_SECONDS:
        last = selectors.last_price(market)
        _last_prices[market.pk] = (now, last)
    if last is not None:
        return last
    try:
        book = market_book.snapshot(market.symbol, get_redis()) or {}
    except redis.RedisError:
        # Order entry survives a Redis outage (the matcher re-sends what it missed): without a
        # last trade and without the book, there is no reference, and the band cannot apply.
        logger.warning("price band: book cache unreachable", extra={"symbol": market.symbol})
        return None
    if book.get("bids") and book.get("asks"):
        return (Decimal(book["bids"][0][0]) + Decimal(book["asks"][0][0])) / 2
    return None


def _plain(value: Decimal) -> str:
    return f"{value.normalize():f}"


def max_quantity(order: Proposed) -> None:
    limit = order.market.max_order_quantity
    if limit is not None and order.quantity is not None and order.quantity > limit:
        raise AboveMaxQuantity(details={"max_quantity": _plain(limit), "quantity": _plain(order.quantity)})


def max_notional(order: Proposed) -> None:
    limit = order.market.max_order_notional
    if limit is not None and order.notional is not None and order.notional > limit:
        raise AboveMaxNotional(details={"max_notional": _plain(limit), "notional": _plain(order.notional)})


def price_band(order: Proposed) -> None:
    """A limit price within +-band of the reference price. Stop orders are not banded: their prices
    are about where the market may go."""
    band = order.market.price_band
    if band is None or order.type != Order.Type.LIMIT:
        return
    reference = reference_price(order.market)
    if reference is None:
        return  # nothing to compare with: a market's first orders
    low, high = reference * (1 - band), reference * (1 + band)
    if not low <= order.price <= high:
        tick = order.market.tick_size
        raise PriceOutOfBand(details={
            "price": _plain(order.price), "reference_price": _plain(reference),
            # The lowest and highest prices on the tick grid that the band accepts.
            "min_price": _plain((low / tick).to_integral_value(ROUND_CEILING) * tick),
            "max_price": _plain((high / tick).to_integral_value(ROUND_FLOOR) * tick),
        })  # fmt: skip


def max_open_orders(order: Proposed) -> None:
    """Counted inside the order's transaction under a per-user-and-market advisory lock (held to its
    commit), so concurrent orders cannot pass the limit together."""
    limit = order.market.max_open_orders
    if limit is None:
        return
    with connection.cursor() as cursor:  # lock, then count (migration orders/0002)
        cursor.execute("SELECT orders_open_count_locked(%s, %s)", [order.user_id, order.market.pk])
        count = cursor.fetchone()[0]
    if count >= limit:
        raise TooManyOpenOrders(details={"max_open_orders": limit, "open_orders": count})


# Stateless checks run before the order's transaction; the counting one inside it (after the lock).
BEFORE: tuple[Callable[[Proposed], None], ...] = (max_quantity, max_notional, price_band)
INSIDE: tuple[Callable[[Proposed], None], ...] = (max_open_orders,)


def run(order: Proposed, checks) -> None:
    if not settings.PRE_TRADE_CHECKS:
        return
    for check in checks:
        check(order)
