"""Per-process market feeds: one reader of the market-data channel layer per market, fanned out to
every local subscriber of that market.

A web process holds one `MarketFeed` per market that has subscribers. The feed joins the market's
`book.{SYMBOL}` and `trades.{SYMBOL}` groups once, with a channel of its own, on the `market_data`
layer (Redis pub/sub: a feed reads whatever the matcher published since its last read at once, with no
round trip per message), keeps the aggregated
book (seeded from the matcher's Redis cache, then advanced by the numbered updates), and renders
each message once per view: a view is one depth (top N levels per side) with its own diff and its
own checksum, so a client asking depth 10 gets exactly the top 10 and can prove it. Rendered text
goes to each subscriber's bounded outbox (apps.core.consumers); a client that cannot keep up is
disconnected there, and memory never grows with it.

Ordering: a subscriber is added and sent its snapshot in one step of the event loop, between two
updates the feed applies, so it misses and doubles nothing. A gap in the matcher's sequence (a
message published while this process's pub/sub connection was down) or a checksum that disagrees
makes the feed reload the cache and send every subscriber a fresh snapshot. When no update arrives for a while the feed
compares its sequence with the cache, so the last update of a burst cannot be lost silently.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from bisect import bisect_left, insort
from dataclasses import dataclass, field

from asgiref.sync import sync_to_async
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from django.conf import settings

from apps.core.consumers import read_until_cancelled
from apps.markets import book as market_book
from apps.markets import selectors
from apps.markets.book import MARKET_DATA_LAYER, checksum
from apps.markets.models import Market

logger = logging.getLogger(__name__)

# How often a feed renews its group memberships (channels-redis forgets a member after a day).
RENEW_SECONDS = 600.0


_snapshot = sync_to_async(market_book.snapshot, thread_sensitive=False)  # the cache, from the event loop


def _is_zero(quantity: str) -> bool:
    return not quantity.strip("0.")


class BookSide:
    """Levels of one side, best first. Prices arrive as strings in the market's precision, so the
    digits without the point order them exactly (as integers)."""

    __slots__ = ("keys", "levels", "sign")

    def __init__(self, descending: bool):
        self.sign = -1 if descending else 1
        self.keys: list[int] = []  # sorted: best first
        self.levels: dict[int, list[str]] = {}

    def set(self, price: str, quantity: str) -> None:
        key = self.sign * int(price.replace(".", ""))
        if _is_zero(quantity):
            if self.levels.pop(key, None) is not None:
                del self.keys[bisect_left(self.keys, key)]
        else:
            if key not in self.levels:
                insort(self.keys, key)
            self.levels[key] = [price, quantity]

    def top(self, n: int) -> list[list[str]]:
        levels = self.levels
        return [levels[k] for k in self.keys[:n]]

    def reset(self, levels: list[list[str]]) -> None:
        self.keys.clear()
        self.levels.clear()
        for price, quantity in levels:
            self.set(price, quantity)


def _diff(old: list[list[str]], new: list[list[str]], sign: int) -> list[list[str]]:
    """Levels that changed between two best-first views, best first; a level gone is [price, "0"]."""
    before = {p: q for p, q in old}
    after = {p: q for p, q in new}
    changed = [[p, q] for p, q in new if before.get(p) != q]
    gone = [[p, "0"] for p in before if p not in after]
    if gone:
        changed.extend(gone)
        changed.sort(key=lambda level: sign * int(level[0].replace(".", "")))
    return changed


@dataclass
class BookView:
    """The top `depth` levels as the view's subscribers hold them."""

    depth: int
    bids: list[list[str]] = field(default_factory=list)
    asks: list[list[str]] = field(default_factory=list)
    subscribers: set = field(default_factory=set)

    def snapshot(self, symbol: str, sequence: int) -> str:
        return json.dumps({"channel": "book", "type": "snapshot", "symbol": symbol, "sequence": sequence,
                           "bids": self.bids, "asks": self.asks,
                           "checksum": checksum(self.bids, self.asks)})  # fmt: skip


class MarketFeed:
    def __init__(self, market: Market, registry: dict):
        self.market, self.symbol, self.registry = market, market.symbol, registry
        self.layer = get_channel_layer(MARKET_DATA_LAYER)
        self.sequence = 0
        self.bids, self.asks = BookSide(descending=True), BookSide(descending=False)
        self.views: dict[int, BookView] = {}
        self.trade_subscribers: set = set()
        self.ticker_subscribers: set = set()
        self.ticker: str | None = None  # the last ticker text sent
        self.ticker_due = asyncio.Event()
        self.ready = asyncio.Event()
        self.channel: str | None = None
        self.tasks: list[asyncio.Task] = []
        self.resyncs = 0
        self.last_message = 0.0

    # -- life ----------------------------------------------------------------------------------------

    async def start(self) -> None:
        try:
            self.channel = await self.layer.new_channel()
            await self._join()
            # After joining: every update past the cache's sequence reaches us. (Pub/sub confirms a
            # subscription on the connection that reads; one published in the instant between the
            # subscribe and this read is caught as a gap by the next update, or by the quiet check.)
            await self._load()
        except BaseException:
            if self.registry.get(self.symbol) is self:
                del self.registry[self.symbol]  # waiting subscribers start another
            raise
        finally:
            self.ready.set()
        loop = asyncio.get_running_loop()
        self.last_message = loop.time()
        self.tasks = [asyncio.create_task(self._read()), asyncio.create_task(self._watch()),
                      asyncio.create_task(self._tickers())]  # fmt: skip
        for task in self.tasks:
            task.add_done_callback(self._crashed)

    def _crashed(self, task: asyncio.Task) -> None:
        if not task.cancelled() and task.exception() is not None:
            logger.error("%s feed: %s stopped", self.symbol, task.get_coro().__name__, exc_info=task.exception())

    async def _join(self) -> None:
        for group in (f"book.{self.symbol}", f"trades.{self.symbol}"):
            await self.layer.group_add(group, self.channel)

    def idle(self) -> bool:
        return not (self.views or self.trade_subscribers or self.ticker_subscribers)

    async def release(self) -> None:
        """A subscriber left: stop the feed once it has had none for FEED_LINGER_SECONDS (a client
        resubscribing, or reconnecting, finds it still in step)."""
        if self.idle():
            asyncio.get_running_loop().call_later(settings.WS_FEED_LINGER_SECONDS, self._stop_later)

    def _stop_later(self) -> None:
        if self.idle() and self.registry.get(self.symbol) is self:
            asyncio.get_running_loop().create_task(self.stop_if_idle())

    async def stop_if_idle(self) -> None:
        if not self.idle() or self.registry.get(self.symbol) is not self:
            return
        del self.registry[self.symbol]  # a subscriber arriving from now on starts a new feed
        if self.channel is not None:  # leave first: nothing more is addressed to our channel
            for group in (f"book.{self.symbol}", f"trades.{self.symbol}"):
                with contextlib.suppress(Exception):
                    await self.layer.group_discard(group, self.channel)
        for task in self.tasks:
            task.cancel()
        # The reader's receive, cancelled, unsubscribes the feed's own channel.
        await asyncio.gather(*self.tasks, return_exceptions=True)

    # -- book ----------------------------------------------------------------------------------------

    async def _load(self, *, older: bool = False, expected: int | None = None) -> None:
        """The book from the cache. An older one is taken only when `older` (the quiet check: the
        market's sequence went back, as after a restore of the database)."""
        book = await _snapshot(self.symbol) or {"sequence": 0, "bids": [], "asks": []}
        if book["sequence"] < self.sequence and not older:
            return
        if expected is not None and self.sequence != expected:
            return  # an update arrived while we read: the feed is live, the next check decides
        self.sequence = book["sequence"]
        self.bids.reset(book["bids"])
        self.asks.reset(book["asks"])

    async def _cached_sequence(self) -> int:
        book = await _snapshot(self.symbol)
        return book["sequence"] if book else 0

    async def _resync(self, why: str, *, older: bool = False, expected: int | None = None) -> None:
        logger.info("%s feed: %s; reloading the book from the cache", self.symbol, why)
        self.resyncs += 1
        await self._load(older=older, expected=expected)
        for view in self.views.values():
            view.bids, view.asks = self.bids.top(view.depth), self.asks.top(view.depth)
            text = view.snapshot(self.symbol, self.sequence)
            for consumer in list(view.subscribers):
                consumer.push(text)

    async def _read(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            try:
                # A cancelled read must end, or stop_if_idle would wait on it forever.
                message = await read_until_cancelled(lambda: self.layer.receive(self.channel))
            except Exception:
                # Redis went away: wait, join again (it may have lost the groups) and resync.
                logger.exception("%s feed: reading the channel layer failed", self.symbol)
                await asyncio.sleep(1)
                with contextlib.suppress(Exception):
                    await self._join()
                    await self._resync("the channel layer failed")
                continue
            self.last_message = loop.time()
            try:
                kind = message.get("type")
                if kind == "book.update":
                    payload = message["payload"]
                    sequence = payload["sequence"]
                    if sequence <= self.sequence:
                        # Already in the book we loaded, or the market's sequence went back (a
                        # database restored, Redis keeping a cache of its later life): then the
                        # cache is behind us too, and it is the truth.
                        if await self._cached_sequence() < self.sequence:
                            await self._resync(f"sequence {sequence} after {self.sequence}", older=True)
                        continue
                    if sequence != self.sequence + 1:
                        await self._resync(f"sequence {sequence} after {self.sequence}")
                    elif not self._apply(payload):
                        await self._resync(f"checksum mismatch at {sequence}")
                elif kind == "trades.batch":
                    self._trades(message["payload"])
                elif kind == "market.status":
                    self._status(message["payload"])
            except Exception:
                logger.exception("%s feed: a message could not be handled", self.symbol)

    def _apply(self, payload: dict) -> bool:
        """Apply an update and send each view its part. False when the book disagrees with the
        matcher's checksum (then nothing is sent)."""
        best = (self.bids.keys[:1], self.asks.keys[:1])
        for price, quantity in payload["bids"]:
            self.bids.set(price, quantity)
        for price, quantity in payload["asks"]:
            self.asks.set(price, quantity)
        self.sequence = payload["sequence"]
        if checksum(self.bids.top(10), self.asks.top(10)) != payload["checksum"]:
            return False
        time = payload.get("time")
        for view in self.views.values():
            bids, asks = self.bids.top(view.depth), self.asks.top(view.depth)
            changed_bids, changed_asks = _diff(view.bids, bids, -1), _diff(view.asks, asks, 1)
            view.bids, view.asks = bids, asks
            message = {"channel": "book", "type": "update", "symbol": self.symbol, "sequence": self.sequence,
                       "bids": changed_bids, "asks": changed_asks, "checksum": checksum(bids, asks)}  # fmt: skip
            if time is not None:
                message["time"] = time
            text = json.dumps(message)
            for consumer in list(view.subscribers):
                consumer.push(text)
        if best != (self.bids.keys[:1], self.asks.keys[:1]):
            self.ticker_due.set()  # bid or ask moved
        return True

    def add_book(self, consumer, depth: int) -> None:
        """Subscribe to the top `depth` levels: the snapshot goes out now, the updates after it."""
        view = self.views.get(depth)
        if view is None:
            view = self.views[depth] = BookView(depth, self.bids.top(depth), self.asks.top(depth))
        view.subscribers.add(consumer)
        consumer.push(view.snapshot(self.symbol, self.sequence))

    def remove_book(self, consumer, depth: int) -> None:
        view = self.views.get(depth)
        if view is not None:
            view.subscribers.discard(consumer)
            if not view.subscribers:
                del self.views[depth]

    # -- trades --------------------------------------------------------------------------------------

    def _trades(self, trades: list[dict]) -> None:
        if trades:
            self.ticker_due.set()
        if not self.trade_subscribers:
            return
        for trade in trades:
            text = json.dumps(trade)
            for consumer in list(self.trade_subscribers):
                consumer.push(text)

    # -- status --------------------------------------------------------------------------------------

    def _status(self, payload: dict) -> None:
        """A halt or a resume: every book and ticker subscriber gets it, on each channel it follows."""
        for channel, consumers in (("book", {c for v in self.views.values() for c in v.subscribers}),
                                   ("ticker", self.ticker_subscribers)):  # fmt: skip
            text = json.dumps({"channel": channel, **payload})
            for consumer in list(consumers):
                consumer.push(text)
        self.ticker_due.set()

    # -- ticker --------------------------------------------------------------------------------------

    async def _ticker_text(self) -> str:
        ticker = await database_sync_to_async(selectors.ticker)(self.market)
        return json.dumps({"channel": "ticker", "type": "ticker", **ticker})

    async def add_ticker(self, consumer) -> None:
        self.ticker_subscribers.add(consumer)  # first: the feed stays up while the ticker is computed
        if self.ticker is None:
            self.ticker = await self._ticker_text()
        consumer.push(self.ticker)

    def remove_ticker(self, consumer) -> None:
        self.ticker_subscribers.discard(consumer)
        if not self.ticker_subscribers:
            self.ticker = None  # not kept current without subscribers: the next one gets a fresh one

    async def _tickers(self) -> None:
        """Recompute the ticker when trades or the best prices change, at most every
        TICKER_MIN_INTERVAL seconds, and every TICKER_REFRESH_SECONDS anyway (the 24-hour window
        moves); push it only when it changed."""
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.ticker_due.wait(), settings.TICKER_REFRESH_SECONDS)
            self.ticker_due.clear()
            if self.ticker_subscribers:
                try:
                    text = await self._ticker_text()
                except Exception:
                    logger.exception("%s feed: the ticker could not be computed", self.symbol)
                else:
                    if text != self.ticker:
                        self.ticker = text
                        for consumer in list(self.ticker_subscribers):
                            consumer.push(text)
            await asyncio.sleep(settings.TICKER_MIN_INTERVAL)

    # -- housekeeping --------------------------------------------------------------------------------

    async def _watch(self) -> None:
        """When no message came for WS_FEED_CHECK_SECONDS, the cache and the feed must agree: a
        lost last update (cache ahead), or a market whose sequence went back (cache behind: a
        database restored from a backup) makes the feed take the cache. No cache (Redis lost it
        and the matcher has not written it again yet) changes nothing."""
        loop = asyncio.get_running_loop()
        renewed, check = loop.time(), settings.WS_FEED_CHECK_SECONDS
        while True:
            await asyncio.sleep(check)
            try:
                now = loop.time()
                if now - renewed >= RENEW_SECONDS:
                    await self._join()
                    renewed = now
                if now - self.last_message >= check:
                    before = self.sequence
                    book = await _snapshot(self.symbol)
                    sequence = book["sequence"] if book else None
                    quiet = loop.time() - self.last_message >= check
                    if sequence is not None and sequence != self.sequence and quiet:
                        await self._resync(
                            f"the cache is at {sequence}, the feed at {self.sequence}", older=True, expected=before
                        )
            except Exception:
                logger.exception("%s feed: the periodic check failed", self.symbol)


# symbol -> feed, per process (per event loop: tests may run several loops one after the other).
_FEEDS: dict[asyncio.AbstractEventLoop, dict[str, MarketFeed]] = {}


@database_sync_to_async
def _market(symbol: str) -> Market | None:
    return Market.objects.select_related("base", "quote").filter(symbol=symbol).first()


async def feed_for(symbol: str) -> MarketFeed | None:
    """The running feed of a market (started on first use), or None for an unknown symbol."""
    loop = asyncio.get_running_loop()
    registry = _FEEDS.setdefault(loop, {})
    for stale in [other for other in _FEEDS if other is not loop and other.is_closed()]:
        del _FEEDS[stale]
    attempts_left = 2
    while True:
        feed = registry.get(symbol)
        if feed is None:
            market = await _market(symbol)
            if market is None:
                return None
            feed = registry.get(symbol)  # another subscriber may have started it meanwhile
            if feed is None:
                feed = registry[symbol] = MarketFeed(market, registry)
                try:
                    await feed.start()
                except Exception:
                    # A Redis connection that died since its last use fails once, then reconnects.
                    if attempts_left == 0:
                        raise
                    attempts_left -= 1
                    logger.warning("%s feed: starting failed; trying again", symbol, exc_info=True)
                    await asyncio.sleep(0.2)
                    continue
        await feed.ready.wait()
        if registry.get(symbol) is feed:  # not stopped while we waited; the caller adds itself at once
            return feed
