"""Public market-data channels of /ws/v1/: `book`, `trades` and `ticker` (docs/api.md "WebSocket").

Each subscription is served by the process's feed of that market (apps.markets.feed): one reader
of the channel layer per market and process, whatever the number of subscribers.
"""

from __future__ import annotations

from django.conf import settings

from apps.core.consumers import SUBSCRIPTION_HANDLERS, Subscription
from apps.markets.feed import feed_for
from apps.markets.selectors import SYMBOL

DEFAULT_DEPTH = 50


def _symbol_of(content) -> str | None:
    symbol = content.get("symbol")
    if not isinstance(symbol, str) or not SYMBOL.fullmatch(symbol.upper()):
        return None
    return symbol.upper()


async def _unknown(consumer, content) -> None:
    await consumer.send_error("unknown_market", f"Unknown symbol: {content.get('symbol')!r}.")


async def _unsubscribe(consumer, channel: str, symbol: str | None, content) -> None:
    subscription = consumer.subscriptions.pop((channel, symbol), None) if symbol else None
    if subscription is None:
        await consumer.send_error("not_subscribed", f"Not subscribed to {channel} {content.get('symbol')!r}.")
        return
    await subscription.close()
    await consumer.send_json({"type": "unsubscribed", "channel": channel, "symbol": symbol})


async def _subscribe(consumer, content, channel: str, add, remove) -> None:
    symbol = _symbol_of(content)
    if content["op"] == "unsubscribe":
        await _unsubscribe(consumer, channel, symbol, content)
        return
    key = (channel, symbol)
    previous = consumer.subscriptions.pop(key, None)
    if previous is not None:  # subscribing again (a new depth, or a resync): replace it
        await previous.close()
    # From here to add(), nothing waits but feed_for: the feed cannot stop before we are in it.
    feed = await feed_for(symbol) if symbol else None
    if feed is None:
        await _unknown(consumer, content)
        return

    async def leave():
        remove(feed)
        await feed.release()

    consumer.subscriptions[key] = Subscription(leave)
    await consumer.send_json({"type": "subscribed", "channel": channel, "symbol": symbol})
    await add(feed)


async def book(consumer, content) -> None:
    depth = content.get("depth", DEFAULT_DEPTH)
    if content["op"] == "subscribe" and (
        isinstance(depth, bool) or not isinstance(depth, int) or not 1 <= depth <= settings.BOOK_MAX_DEPTH
    ):
        await consumer.send_error("invalid_message", f"depth is an integer from 1 to {settings.BOOK_MAX_DEPTH}.")
        return

    async def add(feed):
        feed.add_book(consumer, depth)

    await _subscribe(consumer, content, "book", add, lambda feed: feed.remove_book(consumer, depth))


async def trades(consumer, content) -> None:
    async def add(feed):
        feed.trade_subscribers.add(consumer)

    await _subscribe(consumer, content, "trades", add, lambda feed: feed.trade_subscribers.discard(consumer))


async def ticker(consumer, content) -> None:
    async def add(feed):
        await feed.add_ticker(consumer)

    await _subscribe(consumer, content, "ticker", add, lambda feed: feed.remove_ticker(consumer))


SUBSCRIPTION_HANDLERS.update({"book": book, "trades": trades, "ticker": ticker})
