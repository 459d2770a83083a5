"""A WebSocket connection's own channel-layer read survives a dropped Redis connection."""

import asyncio

import pytest
import redis

from apps.core.consumers import CHANNEL_RECEIVE_ATTEMPTS, StreamConsumer


@pytest.fixture(scope="session", autouse=True)
def _tests_never_touch_the_development_database():
    """No database here: these tests also run alone, without one."""


def flaky(failures: int):
    calls = []

    async def receive():
        calls.append(1)
        if len(calls) <= failures:
            raise redis.ConnectionError("Connection closed by server.")
        return {"type": "user.events", "n": len(calls)}

    return receive, calls


def test_a_dropped_connection_is_read_again():
    consumer = StreamConsumer()
    consumer.channel_receive, _calls = flaky(CHANNEL_RECEIVE_ATTEMPTS - 1)
    assert asyncio.run(consumer.channel_receive()) == {"type": "user.events", "n": CHANNEL_RECEIVE_ATTEMPTS}


def test_redis_that_stays_down_still_ends_the_connection():
    consumer = StreamConsumer()
    consumer.channel_receive, calls = flaky(CHANNEL_RECEIVE_ATTEMPTS)
    with pytest.raises(redis.ConnectionError):
        asyncio.run(consumer.channel_receive())
    assert len(calls) == CHANNEL_RECEIVE_ATTEMPTS
