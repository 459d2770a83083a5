"""The market-data channel layer (Redis pub/sub) the feeds read: what a feed relies on when Redis
drops its connection."""

import asyncio

import pytest
from channels.layers import get_channel_layer

from apps.core.redis import get_redis
from apps.markets.book import MARKET_DATA_LAYER


async def _until(condition, seconds: float, every: float = 0.05, action=None) -> None:
    deadline = asyncio.get_running_loop().time() + seconds
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        if action is not None:
            await action()
        await asyncio.sleep(every)


@pytest.mark.asyncio
async def test_a_dropped_pubsub_connection_is_subscribed_again():
    """redis-py reconnects and subscribes the groups again; what was published meanwhile is gone
    (the feed sees the gap in the sequence and reloads the cache). One reader that never gives up
    its read, as a feed's."""
    layer = get_channel_layer(MARKET_DATA_LAYER)
    channel = await layer.new_channel()
    received, sent = [], [0]

    async def read():
        while True:
            received.append((await layer.receive(channel))["sequence"])

    async def publish():
        sent[0] += 1
        await layer.group_send("book.LAYER-TEST", {"type": "book.update", "sequence": sent[0]})

    reader = asyncio.create_task(read())
    try:
        await layer.group_add("book.LAYER-TEST", channel)
        await _until(lambda: received, 5, every=0.2, action=publish)  # subscribed once confirmed
        assert await asyncio.to_thread(get_redis().client_kill_filter, _type="pubsub", skipme=True) >= 1
        before = sent[0]
        # Published until the reader is back (it waits a second after a failed read).
        await _until(lambda: received[-1] > before, 15, every=0.2, action=publish)
        assert received == sorted(received) and received[-1] <= sent[0]
    finally:
        reader.cancel()
        await asyncio.gather(reader, return_exceptions=True)
        await layer.flush()
