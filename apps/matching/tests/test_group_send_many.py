"""The publisher's bulk group send against the real Redis channel layer: every member of every
group receives what `group_send` would have given it, in order, and a full channel drops what
`group_send` drops."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from channels.layers import get_channel_layer
from channels_redis.core import RedisChannelLayer
from django.conf import settings

from apps.matching.publish import group_send_many


@pytest.fixture(scope="session", autouse=True)
def _tests_never_touch_the_development_database():
    """No database here: only the channel layer's Redis."""


async def _one_by_one(layer, messages):
    for group, message in messages:
        await layer.group_send(group, message)


async def _received(layer, channel) -> list[int]:
    numbers = []
    while True:
        try:
            message = await asyncio.wait_for(layer.receive(channel), 0.3)
        except TimeoutError:
            return numbers
        numbers.append(message["n"])


@pytest.mark.asyncio
@pytest.mark.parametrize("send", [group_send_many, _one_by_one], ids=["many", "group_send"])
async def test_every_member_of_every_group_gets_its_messages_in_order(send):
    layer = get_channel_layer()
    assert isinstance(layer, RedisChannelLayer) and layer.ring_size == 1  # the path under test
    tag = uuid.uuid4().hex[:8]
    book, trades, alice, nobody = (f"{name}.{tag}" for name in ("book", "trades", "alice", "nobody"))
    feed, other_feed, alice_socket = [await layer.new_channel() for _ in range(3)]
    for group, channel in ((book, feed), (trades, feed), (book, other_feed), (alice, alice_socket)):
        await layer.group_add(group, channel)
    messages = [(book, {"type": "t", "n": 1}), (trades, {"type": "t", "n": 2}), (nobody, {"type": "t", "n": 3}),
                (alice, {"type": "t", "n": 4}), (book, {"type": "t", "n": 5})]  # fmt: skip

    await send(layer, messages)

    assert await _received(layer, feed) == [1, 2, 5]
    assert await _received(layer, other_feed) == [1, 5]
    assert await _received(layer, alice_socket) == [4]


@pytest.mark.asyncio
@pytest.mark.parametrize("send", [group_send_many, _one_by_one], ids=["many", "group_send"])
async def test_a_full_channel_drops_the_rest_as_group_send_does(send):
    config = settings.CHANNEL_LAYERS["default"]["CONFIG"]
    layer = RedisChannelLayer(**{**config, "capacity": 2})
    try:
        group = f"full.{uuid.uuid4().hex[:8]}"
        channel = await layer.new_channel()
        await layer.group_add(group, channel)

        await send(layer, [(group, {"type": "t", "n": n}) for n in range(4)])

        assert await _received(layer, channel) == [0, 1]
    finally:
        await layer.flush()
