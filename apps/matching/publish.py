"""After a batch commits: the Redis book cache and the events of the channel layer.

Nothing here is needed for correctness of money: a failure is logged and the next batch writes a
fresh cache. Groups: `book.{SYMBOL}` (updates), `trades.{SYMBOL}` on the `market_data` layer (Redis
pub/sub, read by each process's market feed), `user.{id}` (own orders, fills, balances) on the default
layer; one channel-layer message per group and batch, which consumers unpack into docs/api.md messages.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

import redis
from channels.layers import get_channel_layer
from channels_redis.core import RedisChannelLayer

from apps.core.fields import format_in_precision, format_time
from apps.markets import book as market_book
from apps.markets.book import MARKET_DATA_LAYER, LevelFormatter, SortedLevels, checksum
from apps.markets.models import Market
from apps.matching.rows import OrderState, StatusChange, TradeRow
from apps.matching.settlement import MarketContext
from apps.orders.serializers import STATIC_FIELDS, OrderFormatter

logger = logging.getLogger(__name__)


# channels-redis 4.3's own script for a group send (RedisChannelLayer.group_send): a message goes to
# each channel below its capacity, with the channel's expiry renewed.
_GROUP_SEND_LUA = """
    local over_capacity = 0
    local current_time = ARGV[#ARGV - 1]
    local expiry = ARGV[#ARGV]
    for i=1,#KEYS do
        if redis.call('ZCOUNT', KEYS[i], '-inf', '+inf') < tonumber(ARGV[i + #KEYS]) then
            redis.call('ZADD', KEYS[i], current_time, ARGV[i])
            redis.call('EXPIRE', KEYS[i], expiry)
        else
            over_capacity = over_capacity + 1
        end
    end
    return over_capacity
"""


async def group_send_many(layer, messages: list[tuple[str, dict]]) -> None:
    """`layer.group_send(group, message)` for every pair, in two Redis round trips in all.

    channels-redis makes four round trips per group (drop expired members, read the members, drop
    expired messages, the send script); a batch publishes to the book, the trades and every user
    it touched, so under a steady trickle of orders those round trips were the matcher's largest
    cost. Here the first pipeline reads every group's members, the second sends every message with
    channels-redis's own script and key mapping: what lands in Redis is what group_send writes, and
    a channel in several groups gets its messages in the order given. A layer of several Redis
    hosts (sharded) gets the plain group_send."""
    if not messages:
        return
    if not isinstance(layer, RedisChannelLayer) or layer.ring_size != 1:
        await asyncio.gather(*(layer.group_send(group, message) for group, message in messages))
        return
    connection = layer.connection(0)
    now = time.time()
    pipe = connection.pipeline(transaction=False)
    for group, _message in messages:
        key = layer._group_key(group)
        pipe.zremrangebyscore(key, min=0, max=int(now) - layer.group_expiry)
        pipe.zrange(key, 0, -1)
    members = (await pipe.execute())[1::2]
    pipe, sends = connection.pipeline(transaction=False), []  # sends: (group, result index)
    for position, ((group, message), names) in enumerate(zip(messages, members, strict=True)):
        if not names:
            continue
        channels = [name.decode() for name in names]
        by_connection, key_message, key_capacity = layer._map_channel_keys_to_connection(channels, message)
        keys = by_connection[0]
        for key in keys:
            pipe.zremrangebyscore(key, min=0, max=int(now) - int(layer.expiry))
        # A channel delivers in score order: the messages' order, 10 µs apart (group_send's own calls
        # one after the other get later times).
        at = now + position * 1e-5
        args = [key_message[key] for key in keys] + [key_capacity[key] for key in keys] + [at, layer.expiry]
        sends.append((group, len(pipe)))
        pipe.eval(_GROUP_SEND_LUA, len(keys), *keys, *args)
    if sends:
        results = await pipe.execute()
        for group, index in sends:
            if results[index]:
                logger.info("%s channels over capacity in group %s", results[index], group)


@dataclass
class Update:
    ctx: MarketContext
    market: Market
    sequence: int | None  # None: the book did not change in this batch
    levels: dict
    depth: tuple[list, list] | None  # the whole book (ticks, lots) after a rebuild or when asked, else None
    trades: list[tuple[int, TradeRow]]  # (trade id, trade), set when the batch committed
    orders: list[OrderState]  # as of this batch
    balances: dict[int, tuple[Decimal, Decimal]]
    owners: dict[int, tuple[int, str]]  # user account id -> (user, currency); fee accounts are absent
    now: datetime
    committed_at: datetime | None = None  # when the batch's transaction committed (book updates' `time`)
    status: list[StatusChange] = field(default_factory=list)  # halts and resumes (matching.gate), in order


class Publisher:
    """Publishes from a thread of its own, in batch order: rendering thousands of events is Python
    work that overlaps the matcher's waits on PostgreSQL instead of adding to them. The queue is
    bounded, so a slow channel layer slows the matcher down rather than growing memory."""

    def __init__(self, client: redis.Redis, *, queue_size: int = 8):
        self.redis = client
        self.layer = get_channel_layer()
        self.market_layer = get_channel_layer(MARKET_DATA_LAYER)
        self.formatters: dict[int, tuple] = {}
        # market id -> (bids, asks) as last published: each update applies its changed levels, so
        # writing the cache costs what changed, not the book's size. An update carries the whole
        # book after the matcher rebuilt it, or when this thread asks for it (`wants_depth`: its
        # copy was lost to a failure); until it comes, that market's book is not published.
        self.books: dict[int, tuple[SortedLevels, SortedLevels]] = {}
        self.wants_depth: set[int] = set()
        self.queue: queue.Queue[Update | None] = queue.Queue(maxsize=queue_size)
        self.thread = threading.Thread(target=self._run, name="matcher-publisher", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        self.loop = asyncio.new_event_loop()  # the channel layer's connections belong to this loop
        try:
            while (update := self.queue.get()) is not None:
                try:
                    self._publish_now(update)
                finally:
                    self.queue.task_done()
            self.queue.task_done()
        finally:
            self.loop.close()

    def flush(self) -> None:
        """Wait until everything handed over so far is published."""
        self.queue.join()

    def _formatter(self, market) -> OrderFormatter:
        cached = self.formatters.get(market.pk)
        if cached is None or cached[0] is not market:
            cached = self.formatters[market.pk] = (market, OrderFormatter(market))
        return cached[1]

    def close(self) -> None:
        """Publish what is queued, then stop the thread."""
        self.queue.put(None)
        self.thread.join(timeout=30)

    def publish(self, update: Update) -> None:
        self.queue.put(update)

    def _publish_now(self, update: Update) -> None:
        try:
            messages = self._build(update)
            if self.layer is not None and messages:
                self.loop.run_until_complete(self._send(messages))
        except Exception:
            logger.exception("%s: publishing a batch failed", update.ctx.symbol)
            if update.sequence is not None:  # the copy of the book may hold this batch or not: start again
                self.books.pop(update.ctx.market_id, None)
                self.wants_depth.add(update.ctx.market_id)

    def _book(self, u: Update, fmt: LevelFormatter) -> tuple[SortedLevels, SortedLevels] | None:
        """The market's book as of this update, or None while the whole book is still to come."""
        market_id = u.ctx.market_id
        if u.depth is not None:
            bids, asks = u.depth
            book = self.books[market_id] = (
                SortedLevels((-p, [fmt.price(p), fmt.quantity(q)]) for p, q in bids),
                SortedLevels((p, [fmt.price(p), fmt.quantity(q)]) for p, q in asks),
            )
            self.wants_depth.discard(market_id)
            return book
        book = self.books.get(market_id)
        if book is None:
            self.wants_depth.add(market_id)
            return None
        bids, asks = book
        for (side, p), q in u.levels.items():
            level = [fmt.price(p), fmt.quantity(q)] if q else None
            if side == "buy":
                bids.set(-p, level)
            else:
                asks.set(p, level)
        return book

    async def _send(self, messages: list[tuple[str, dict]]) -> None:
        """Private events (`user.{id}`) on the default layer (every group's message in two round trips:
        group_send_many), market data on its own (in order: one connection publishes them one after
        the other)."""
        public = [(group, message) for group, message in messages if not group.startswith("user.")]
        private = [(group, message) for group, message in messages if group.startswith("user.")]
        await asyncio.gather(self._send_market_data(public), group_send_many(self.layer, private))

    async def _send_market_data(self, messages: list[tuple[str, dict]]) -> None:
        for group, message in messages:
            await self.market_layer.group_send(group, message)

    def _build(self, u: Update) -> list[tuple[str, dict]]:
        market, symbol = u.market, u.ctx.symbol
        fmt = LevelFormatter(market.tick_size, market.lot_size, market.price_decimals, market.quantity_decimals)
        messages: list[tuple[str, dict]] = []
        book = self._book(u, fmt) if u.sequence is not None else None
        if book is not None:
            bids, asks = book[0].top(), book[1].top()
            snapshot = {"symbol": symbol, "sequence": u.sequence, "bids": bids, "asks": asks,
                        "checksum": checksum(bids, asks)}  # fmt: skip
            market_book.write_snapshot(self.redis, symbol, snapshot)
            changed_bids = [
                [fmt.price(p), fmt.quantity(q)] for (side, p), q in sorted(u.levels.items()) if side == "buy"
            ]
            changed_asks = [
                [fmt.price(p), fmt.quantity(q)] for (side, p), q in sorted(u.levels.items()) if side == "sell"
            ]
            changed_bids.reverse()
            messages.append((f"book.{symbol}", {"type": "book.update", "payload": {
                "channel": "book", "type": "update", "symbol": symbol, "sequence": u.sequence,
                "bids": changed_bids, "asks": changed_asks, "checksum": snapshot["checksum"],
                "time": format_time(u.committed_at or u.now)}}))  # fmt: skip
        for change in u.status:  # the book and ticker subscribers are told (apps.markets.feed)
            messages.append((f"book.{symbol}", {"type": "market.status", "payload": {
                "type": "status", "symbol": symbol, "status": change.status, "reason": change.reason or None,
                "resumes_at": format_time(change.until) if change.until else None,
                "time": format_time(change.at)}}))  # fmt: skip
        time = format_time(u.now)
        pd, qd = market.price_decimals, market.quantity_decimals
        per_user: dict[int, list[dict]] = {}
        if u.trades:
            public = []
            for trade_id, trade in u.trades:
                taker_side = trade.taker_side
                price_s, qty_s = format_in_precision(trade.price, pd), format_in_precision(trade.quantity, qd)
                public.append({"channel": "trades", "type": "trade", "symbol": symbol, "id": trade_id, "price": price_s,
                               "quantity": qty_s, "taker_side": taker_side, "time": time})  # fmt: skip
                for ticket, side, fee, fee_currency, decimals in (
                    (trade.buyer, "buy", trade.buyer_fee, market.base_id, market.base.decimals),
                    (trade.seller, "sell", trade.seller_fee, market.quote_id, market.quote.decimals),
                ):
                    per_user.setdefault(ticket.user_id, []).append({"channel": "orders", "type": "fill", "trade": {
                        "id": trade_id, "order_id": ticket.id, "symbol": symbol, "side": side, "price": price_s,
                        "quantity": qty_s, "fee": format_in_precision(fee, decimals), "fee_currency": fee_currency,
                        "liquidity": "taker" if side == taker_side else "maker", "time": time}})  # fmt: skip
            messages.append((f"trades.{symbol}", {"type": "trades.batch", "payload": public}))
        if u.orders:
            formatter = self._formatter(market)
            for o in u.orders:
                ticket = o.ticket
                if ticket.static is None:  # only this thread reads or writes `static`
                    row = ticket.row
                    ticket.static = formatter.static(**{name: getattr(row, name) for name in STATIC_FIELDS})
                per_user.setdefault(ticket.user_id, []).append({"channel": "orders", "type": "order", "order":
                    formatter.payload(ticket.static, filled_quantity=o.filled_quantity, filled_quote=o.filled_quote,
                                      fee=o.fee, status=o.status, reason=o.reason, updated_at=u.now)})  # fmt: skip
        if u.balances:
            owners = u.owners
            decimals = {market.base_id: market.base.decimals, market.quote_id: market.quote.decimals}
            for account, (available, locked) in u.balances.items():
                if account not in owners:
                    continue  # a fee account
                user, currency = owners[account]
                per_user.setdefault(user, []).append({
                    "channel": "orders", "type": "balance", "currency": currency,
                    "available": format_in_precision(available, decimals[currency]),
                    "locked": format_in_precision(locked, decimals[currency]),
                })  # fmt: skip
        for user, events in per_user.items():
            messages.append((f"user.{user}", {"type": "user.events", "payload": events}))
        return messages
