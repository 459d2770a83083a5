"""Public market-data channels of /ws/v1/: `book` and `trades` (API.md, WebSocket).

A book subscriber joins the market's group first and reads the cached snapshot second. The matcher
writes the cache before it publishes an update, so every update numbered above the snapshot's
sequence reaches the subscriber, and the ones at or below it are dropped: no gap, no double.
"""

from __future__ import annotations

import json

from asgiref.sync import sync_to_async
from channels.db import database_sync_to_async

from apps.core.consumers import MESSAGE_HANDLERS, SUBSCRIPTION_HANDLERS
from apps.core.redis import get_redis
from apps.markets.models import Market
from apps.markets.selectors import SYMBOL
from apps.matching.book import checksum
from apps.matching.publish import book_cache_key

DEFAULT_DEPTH, MAX_DEPTH = 50, 500


@database_sync_to_async
def _market_exists(symbol: str) -> bool:
    return Market.objects.filter(symbol=symbol).exists()


async def _symbol(consumer, content) -> str | None:
    symbol = content.get("symbol")
    if not isinstance(symbol, str) or not SYMBOL.fullmatch(symbol.upper()) or not await _market_exists(symbol.upper()):
        await consumer.send_error("unknown_market", f"Unknown symbol: {symbol!r}.")
        return None
    return symbol.upper()


async def _leave(consumer, channel: str, symbol: str) -> None:
    consumer.subscriptions.pop((channel, symbol), None)
    await consumer.channel_layer.group_discard(f"{channel}.{symbol}", consumer.channel_name)
    await consumer.send_json({"type": "unsubscribed", "channel": channel, "symbol": symbol})


async def book(consumer, content) -> None:
    symbol = await _symbol(consumer, content)
    if symbol is None:
        return
    key, group = ("book", symbol), f"book.{symbol}"
    if content["op"] == "unsubscribe":
        await _leave(consumer, "book", symbol)
        return
    depth = content.get("depth", DEFAULT_DEPTH)
    if isinstance(depth, bool) or not isinstance(depth, int) or not 1 <= depth <= MAX_DEPTH:
        await consumer.send_error("invalid_message", f"depth is an integer from 1 to {MAX_DEPTH}.")
        return
    await consumer.channel_layer.group_add(group, consumer.channel_name)
    cached = await sync_to_async(get_redis().get)(book_cache_key(symbol))
    snapshot = json.loads(cached) if cached else {"sequence": 0, "bids": [], "asks": []}
    consumer.subscriptions[key] = {"sequence": snapshot["sequence"], "depth": depth}
    bids, asks = snapshot["bids"][:depth], snapshot["asks"][:depth]
    await consumer.send_json({"type": "subscribed", "channel": "book", "symbol": symbol})
    await consumer.send_json({"channel": "book", "type": "snapshot", "symbol": symbol,
                              "sequence": snapshot["sequence"], "bids": bids, "asks": asks,
                              "checksum": checksum(bids, asks)})  # fmt: skip


async def book_update(consumer, message) -> None:
    payload = message["payload"]
    state = consumer.subscriptions.get(("book", payload["symbol"]))
    if state is None or payload["sequence"] <= state["sequence"]:
        return  # not subscribed (any more), or already in the snapshot
    state["sequence"] = payload["sequence"]
    await consumer.send_json(payload)


async def trades(consumer, content) -> None:
    symbol = await _symbol(consumer, content)
    if symbol is None:
        return
    key, group = ("trades", symbol), f"trades.{symbol}"
    if content["op"] == "unsubscribe":
        await _leave(consumer, "trades", symbol)
        return
    await consumer.channel_layer.group_add(group, consumer.channel_name)
    consumer.subscriptions[key] = {}
    await consumer.send_json({"type": "subscribed", "channel": "trades", "symbol": symbol})


async def trades_batch(consumer, message) -> None:
    for trade in message["payload"]:
        if ("trades", trade["symbol"]) in consumer.subscriptions:
            await consumer.send_json(trade)


SUBSCRIPTION_HANDLERS.update({"book": book, "trades": trades})
MESSAGE_HANDLERS.update({"book.update": book_update, "trades.batch": trades_batch})
