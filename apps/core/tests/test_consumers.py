"""The /ws/v1/ protocol, through the full ASGI application and the Redis channel layer."""

import pytest
from channels.testing import WebsocketCommunicator

from exchange.asgi import application


async def connect():
    communicator = WebsocketCommunicator(application, "/ws/v1/", headers=[(b"origin", b"http://localhost")])
    connected, _ = await communicator.connect()
    assert connected
    return communicator


@pytest.mark.asyncio
async def test_ping_is_answered_with_pong():
    ws = await connect()
    await ws.send_json_to({"op": "ping"})
    assert await ws.receive_json_from() == {"type": "pong"}
    await ws.disconnect()


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("not json", "invalid_message"),
        ("[1, 2]", "invalid_message"),
        ('{"no_op": 1}', "invalid_message"),
        ('{"op": "dance"}', "unknown_op"),
        ('{"op": "subscribe", "channel": "nope", "symbol": "BTC-USDT"}', "unknown_channel"),
        ('{"op": "ping", "pad": "' + "x" * 5000 + '"}', "invalid_message"),
    ],
)
async def test_bad_messages_get_an_error_and_keep_the_connection(raw, code):
    ws = await connect()
    await ws.send_to(text_data=raw)
    reply = await ws.receive_json_from()
    assert reply["type"] == "error" and reply["code"] == code and reply["message"]
    await ws.send_json_to({"op": "ping"})
    assert await ws.receive_json_from() == {"type": "pong"}
    await ws.disconnect()


@pytest.mark.asyncio
async def test_foreign_origin_is_refused():
    communicator = WebsocketCommunicator(application, "/ws/v1/", headers=[(b"origin", b"http://evil.example")])
    connected, _ = await communicator.connect()
    assert not connected


@pytest.mark.asyncio
async def test_connections_and_disconnects_are_counted_for_prometheus():

    def value(name, **labels):
        from prometheus_client import REGISTRY

        return REGISTRY.get_sample_value(name, labels) or 0.0

    open_before = value("exchange_websocket_connections")
    closed_before = value("exchange_websocket_disconnects_total", code="1000")
    ws = await connect()
    assert value("exchange_websocket_connections") == open_before + 1
    await ws.disconnect(code=1000)
    assert value("exchange_websocket_connections") == open_before
    assert value("exchange_websocket_disconnects_total", code="1000") == closed_before + 1


@pytest.mark.asyncio
async def test_a_client_without_origin_connects():
    """Not a browser (a bot): let in; it acts as a user only once it authenticates."""
    communicator = WebsocketCommunicator(application, "/ws/v1/")
    connected, _ = await communicator.connect()
    assert connected
    await communicator.send_json_to({"op": "ping"})
    assert await communicator.receive_json_from() == {"type": "pong"}
    await communicator.disconnect()


@pytest.mark.asyncio
async def test_a_cancelled_channel_layer_read_always_ends():
    """A read cancelled at any step of its first Redis round trips ends. redis-py's writes under
    asyncio.wait_for swallow a cancellation on Python 3.11: a bare `layer.receive` cancelled after
    9 steps here went on reading forever, and such a read held up SIGTERM."""
    import asyncio
    import functools

    from channels.layers import get_channel_layer

    from apps.core.consumers import read_until_cancelled

    layer = get_channel_layer()
    for steps in range(40):
        channel = await layer.new_channel()
        task = asyncio.ensure_future(read_until_cancelled(functools.partial(layer.receive, channel)))
        for _ in range(steps):
            await asyncio.sleep(0)
        task.cancel()
        done, _ = await asyncio.wait({task}, timeout=2)
        assert task in done and task.cancelled(), f"cancelled after {steps} steps, the read went on"
        layer.receive_buffer.pop(channel, None)
