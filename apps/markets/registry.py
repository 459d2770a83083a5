"""The market registry cached in each process (order entry and market data look markets up on every
request).

The cache is as fresh as a version in Redis (`exchange:markets:version`), replaced whenever a market
or a currency changes (apps.markets.signals; the matcher's circuit breaker, which writes the market
row with SQL, calls `changed` itself). A request reads the version in its one Redis round trip, the
rate-limit script (apps.core.piggyback), so a lookup costs no query and no further round trip; outside
an HTTP request (the matcher, tasks, WebSocket consumers, shells) a lookup reads the version with one
GET. A change is therefore
seen by every request whose round trip came after it: filters (tick, lot, minimum notional, fees,
limits) are never older than that. A market's status here is only a fast refusal: order entry reads
it again under a lock (apps.orders.services).

Lookups return a copy per call: callers may set attributes on it (order entry does) without touching
the cache or other threads."""

from __future__ import annotations

import copy
import secrets
import threading

from django.db import transaction

from apps.core import piggyback
from apps.core.redis import get_redis
from apps.markets.models import Market

_lock = threading.Lock()
_cache: tuple[str | None, dict[str, Market]] = (None, {})


def market(symbol: str) -> Market | None:
    """A copy of the market named `symbol` (upper case), or None if there is none."""
    version = piggyback.noted_markets_version()
    cached_version, markets = _cache
    if version is None or version != cached_version:
        version = _current_version()
        if version != cached_version:
            markets = _load(version)
    found = markets.get(symbol)
    return None if found is None else copy.copy(found)


def _current_version() -> str:
    redis = get_redis()
    version = redis.get(piggyback.MARKETS_VERSION_KEY)
    if version is None:  # never set, or Redis lost it: a new one
        redis.set(piggyback.MARKETS_VERSION_KEY, secrets.token_hex(8), nx=True)
        version = redis.get(piggyback.MARKETS_VERSION_KEY)
    return version


def _load(version: str) -> dict[str, Market]:
    global _cache
    markets = {m.symbol: m for m in Market.objects.select_related("base", "quote")}
    with _lock:
        # Read before the rows, so a change committed meanwhile has already moved the version: the
        # next lookup loads again. Not kept when read inside a transaction that may roll back.
        if not transaction.get_connection().in_atomic_block:
            _cache = (version, markets)
    return markets


def changed() -> None:
    """A market or currency changed: every process reloads at its next lookup. Writes the version now
    and again after the commit (a process that loaded in between read the rows before the commit)."""
    global _cache

    def write():
        global _cache
        get_redis().set(piggyback.MARKETS_VERSION_KEY, secrets.token_hex(8))
        _cache = (None, {})
        piggyback.note_markets_version(None)

    write()
    if transaction.get_connection().in_atomic_block:
        transaction.on_commit(write, robust=True)


def forget() -> None:
    """Drop this process's copy (tests)."""
    global _cache
    _cache = (None, {})
