"""The order book as clients see it, owned by markets: its text (decimal strings in the market's
precision, and the CRC32 checksum of docs/api.md: top 10 asks lowest first, then top 10 bids highest
first, each level as price then quantity with the decimal point removed and leading zeros
stripped), its Redis cache (one writer, the matcher's publisher; one reader, `snapshot`) and the
channel layer that carries its updates (`MARKET_DATA_LAYER`)."""

from __future__ import annotations

import json
import zlib
from bisect import bisect_left, insort
from decimal import Decimal

from apps.core import money
from apps.core.redis import get_redis

# The channel layer of public market data (settings.CHANNEL_LAYERS): the matcher publishes book
# updates, trades and halts on it, each process's market feed (apps.markets.feed) reads them.
MARKET_DATA_LAYER = "market_data"


def cache_key(symbol: str) -> str:
    return f"exchange:book:{symbol}"


def snapshot(symbol: str, client=None) -> dict | None:
    """The cached book {symbol, sequence, bids, asks, checksum} as the matcher last published it
    (every level, best first), or None before the first publication (or after Redis lost it)."""
    cached = (client or get_redis()).get(cache_key(symbol))
    return json.loads(cached) if cached else None


def write_snapshot(client, symbol: str, book: dict) -> None:
    """The matcher's publisher, after each batch that changed the book (apps.matching.publish)."""
    client.set(cache_key(symbol), json.dumps(book))


def level_text(value: Decimal) -> str:
    return format(value, "f").replace(".", "").lstrip("0")


def checksum(bids: list[list[str]], asks: list[list[str]]) -> int:
    """bids and asks best first, as [price, quantity] strings in the market's precision."""
    parts = []
    for price, qty in asks[:10]:
        parts.append(price.replace(".", "").lstrip("0") + qty.replace(".", "").lstrip("0"))
    for price, qty in bids[:10]:
        parts.append(price.replace(".", "").lstrip("0") + qty.replace(".", "").lstrip("0"))
    return zlib.crc32("".join(parts).encode()) & 0xFFFFFFFF


class LevelFormatter:
    """Ticks and lots to [price, quantity] strings in the market's precision."""

    def __init__(self, tick_size: Decimal, lot_size: Decimal, price_decimals: int, quantity_decimals: int):
        self.tick, self.lot = tick_size, lot_size
        self.pq, self.qq = money.unit(price_decimals), money.unit(quantity_decimals)

    def price(self, ticks: int) -> str:
        return format((self.tick * ticks).quantize(self.pq), "f")

    def quantity(self, lots: int) -> str:
        return format((self.lot * lots).quantize(self.qq), "f")

    def levels(self, levels) -> list[list[str]]:
        return [[self.price(p), self.quantity(q)] for p, q in levels]


class SortedLevels:
    """One side of the book as published, best first: an integer key that sorts it (ticks, negated
    for bids) to its [price, quantity] strings. A batch changes a few levels of a book that may hold
    thousands: keeping the text of every level and the order of their keys costs what changed."""

    __slots__ = ("keys", "levels")

    def __init__(self, levels: list[tuple[int, list[str]]] = ()):
        self.levels = dict(levels)
        self.keys = sorted(self.levels)

    def set(self, key: int, level: list[str] | None) -> None:
        """Put a level, or remove it (None)."""
        if level is None:
            if self.levels.pop(key, None) is not None:
                del self.keys[bisect_left(self.keys, key)]
            return
        if key not in self.levels:
            insort(self.keys, key)
        self.levels[key] = level

    def top(self, n: int | None = None) -> list[list[str]]:
        levels = self.levels
        return [levels[k] for k in (self.keys if n is None else self.keys[:n])]
