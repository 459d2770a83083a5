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
