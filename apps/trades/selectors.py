"""A user's own fills (docs/api.md "Trades, portfolio, wallets": GET /trades and /trades/export.csv).

A trade row has two sides; a user's fills are the rows where they bought plus those where they
sold (never both: self-trades are prevented by a constraint). Each side is read from its own index
(buyer or seller, [market,] created_at, id), newest first from a keyset cursor (created_at, id),
and the two ordered runs are merged by PostgreSQL: a page costs two short index scans whatever the
size of the table or of the user's history. The order is stable (time, then id), and a cursor
keeps its place when new trades arrive: they sort before it.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import re
from dataclasses import dataclass

from django.db import connection

from apps.core.fields import format_in_precision, format_time
from apps.markets.models import Market
from apps.trades.models import Trade

FIELDS = ("id", "order_id", "symbol", "side", "price", "quantity", "fee", "fee_currency", "liquidity", "time")


_CURSOR = re.compile(r"[A-Za-z0-9_-]{1,100}")


class InvalidCursor(ValueError):
    pass


@dataclass(frozen=True)
class FillFilter:
    market: Market | None = None
    since: dt.datetime | None = None  # inclusive
    until: dt.datetime | None = None  # exclusive
    order_id: int | None = None


@dataclass(frozen=True)
class Position:
    """Where a page ends: the last row's (time, id); the next page starts strictly after it."""

    time: dt.datetime
    id: int

    def encode(self) -> str:
        raw = json.dumps([self.time.isoformat(), self.id], separators=(",", ":")).encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @classmethod
    def decode(cls, token: str) -> Position:
        # Ours are about 50 characters of unpadded urlsafe base64. Anything else is refused before
        # decoding, which would skip characters outside the alphabet ("%00") and read another cursor;
        # and json would recurse into deep nesting.
        if not _CURSOR.fullmatch(token):
            raise InvalidCursor("Invalid cursor.")
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
            time_s, id_ = json.loads(raw)
            time = dt.datetime.fromisoformat(time_s)
        except (binascii.Error, ValueError, TypeError, UnicodeDecodeError, RecursionError) as exc:
            raise InvalidCursor("Invalid cursor.") from exc
        if time.utcoffset() != dt.timedelta(0) or type(id_) is not int or not 0 < id_ < 2**63:
            raise InvalidCursor("Invalid cursor.")
        return cls(time, id_)


_SIDE = {
    # side: (user column, order column, fee column)
    "buy": ("buyer_id", "buy_order_id", "buyer_fee"),
    "sell": ("seller_id", "sell_order_id", "seller_fee"),
}


def _side_query(side: str, user_id: int, flt: FillFilter, after: Position | None, limit: int) -> tuple[str, list]:
    user_col, order_col, fee_col = _SIDE[side]
    where, params = [f"{user_col} = %s"], [user_id]
    if flt.market is not None:
        where.append("market_id = %s")
        params.append(flt.market.pk)
    if flt.order_id is not None:
        where.append(f"{order_col} = %s")
        params.append(flt.order_id)
    if flt.since is not None:
        where.append("created_at >= %s")
        params.append(flt.since)
    if flt.until is not None:
        where.append("created_at < %s")
        params.append(flt.until)
    if after is not None:
        where.append("(created_at, id) < (%s, %s)")
        params += [after.time, after.id]
    # Column names come from _SIDE, values are all parameters.
    sql = (
        f"(SELECT id, {order_col}, market_id, '{side}', price, quantity, {fee_col}, taker_side = '{side}', "  # noqa: S608
        f"created_at FROM trades_trade WHERE {' AND '.join(where)} ORDER BY created_at DESC, id DESC LIMIT %s)"
    )
    return sql, [*params, limit]


def fills_page(user, flt: FillFilter, *, after: Position | None = None, limit: int = 100) -> list[tuple]:
    """Up to `limit` of the user's fills, newest first, strictly after `after`. Rows are
    (id, order_id, market_id, side, price, quantity, fee, is_taker, created_at)."""
    buy_sql, buy_params = _side_query("buy", user.pk, flt, after, limit)
    sell_sql, sell_params = _side_query("sell", user.pk, flt, after, limit)
    with connection.cursor() as cursor:
        cursor.execute(f"{buy_sql} UNION ALL {sell_sql} ORDER BY created_at DESC, id DESC LIMIT %s",
                       [*buy_params, *sell_params, limit])  # fmt: skip
        return cursor.fetchall()


class FillRenderer:
    """Rows of fills_page as docs/api.md's fill objects (the same shape as the `fill` stream event)."""

    def __init__(self):
        self._markets: dict[int, Market] = {}

    def market(self, market_id: int) -> Market:
        market = self._markets.get(market_id)
        if market is None:
            market = self._markets[market_id] = Market.objects.select_related("base", "quote").get(pk=market_id)
        return market

    def values(self, row: tuple) -> tuple:
        id_, order_id, market_id, side, price, quantity, fee, is_taker, created_at = row
        m = self.market(market_id)
        fee_currency = m.base if side == "buy" else m.quote
        return (id_, order_id, m.symbol, side, format_in_precision(price, m.price_decimals),
                format_in_precision(quantity, m.quantity_decimals), format_in_precision(fee, fee_currency.decimals),
                fee_currency.code, "taker" if is_taker else "maker", format_time(created_at))  # fmt: skip

    def payload(self, row: tuple) -> dict:
        return dict(zip(FIELDS, self.values(row), strict=True))


def recent_trades(market: Market, limit: int) -> list[dict]:
    """The market's public trades, newest first (the (market, -id) index)."""
    rows = Trade.objects.filter(market=market).order_by("-id")[:limit]
    pd, qd = market.price_decimals, market.quantity_decimals
    return [
        {"id": id_, "price": format_in_precision(price, pd), "quantity": format_in_precision(qty, qd),
         "taker_side": taker_side, "time": format_time(time)}
        for id_, price, qty, taker_side, time in rows.values_list("id", "price", "quantity", "taker_side",
                                                                  "created_at")
    ]  # fmt: skip
