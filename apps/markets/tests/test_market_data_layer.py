"""The market-data channel layer (Redis pub/sub) the feeds read: what a feed relies on when Redis
drops its connection."""

import asyncio

import pytest
from channels.layers import get_channel_layer

from apps.core.redis import get_redis
from apps.matching.publish import MARKET_DATA_LAYER


@pytest.mark.asyncio
async def test_a_dropped_pubsub_connection_is_subscribed_again():
    """redis-py reconnects and subscribes the groups again; what was published meanwhile is gone
    (the feed sees the gap in the sequence and reloads the cache)."""
    layer = get_channel_layer(MARKET_DATA_LAYER)
    channel = await layer.new_channel()
    try:
        await layer.group_add("book.LAYER-TEST", channel)
        await asyncio.sleep(0.2)  # the subscription is confirmed on the reading connection
        await layer.group_send("book.LAYER-TEST", {"type": "book.update", "sequence": 1})
        assert (await asyncio.wait_for(layer.receive(channel), 5))["sequence"] == 1
        assert await asyncio.to_thread(get_redis().client_kill_filter, _type="pubsub", skipme=True) >= 1
        deadline = asyncio.get_running_loop().time() + 10
        sequence = 1
        while True:  # published until the reader is back (it waits a second after a failed read)
            sequence += 1
            await layer.group_send("book.LAYER-TEST", {"type": "book.update", "sequence": sequence})
            try:
                message = await asyncio.wait_for(layer.receive(channel), 0.5)
                break
            except TimeoutError:
                assert asyncio.get_running_loop().time() < deadline, "never subscribed again"
        assert message["sequence"] == sequence
    finally:
        await layer.flush()
