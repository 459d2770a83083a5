"""The stream's WebSocket protocol writes the frames of one event-loop step in one go, in order, and
the close frame after them."""

import asyncio
import contextlib
import json
import socket

import pytest
import uvicorn
import websockets

from apps.core.wsprotocol import CoalescingWebSocketProtocol

FRAMES = 300


class _CountingTransport:
    def __init__(self, transport, writes: list[bytes]):
        self.transport, self.writes = transport, writes

    def write(self, data) -> None:
        self.writes.append(bytes(data))
        self.transport.write(data)

    def __getattr__(self, name):
        return getattr(self.transport, name)


@contextlib.asynccontextmanager
async def _serving(app, writes: list[bytes]):
    """`app` under uvicorn with the protocol (as the Procfile's stream: no compression); every write
    to a WebSocket's socket lands in `writes`. Yields the URL."""

    class Counting(CoalescingWebSocketProtocol):
        def connection_made(self, transport):
            super().connection_made(transport)
            self.transport = _CountingTransport(transport, writes)

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    config = uvicorn.Config(app, host="127.0.0.1", port=port, lifespan="off", log_level="warning", ws=Counting,
                            ws_per_message_deflate=False)  # fmt: skip
    server = uvicorn.Server(config)
    serving = asyncio.create_task(server.serve())
    try:
        while not server.started:
            await asyncio.sleep(0.01)
        yield f"ws://127.0.0.1:{port}/"
    finally:
        server.should_exit = True
        await serving


@pytest.mark.asyncio
async def test_one_steps_frames_leave_in_one_write_in_order_then_the_close():
    async def app(scope, receive, send):
        await receive()
        await send({"type": "websocket.accept"})
        for n in range(FRAMES):  # one step of the loop, as a writer draining its outbox
            await send({"type": "websocket.send", "text": json.dumps({"n": n})})
        await send({"type": "websocket.send", "bytes": b"last"})
        await send({"type": "websocket.close", "code": 1000, "reason": "done"})

    writes = []
    async with _serving(app, writes) as url, websockets.connect(url) as ws:
        received = [message async for message in ws]
    assert received == [json.dumps({"n": n}) for n in range(FRAMES)] + [b"last"]
    assert (ws.close_code, ws.close_reason) == (1000, "done")
    # The handshake's answer, then the 301 frames and the close frame in one write (the close drains
    # what the step buffered; the flush the first frame scheduled finds nothing left). uvicorn's own
    # protocol made 303 writes of it.
    assert len(writes) == 2 and writes[0].startswith(b"HTTP/1.1 101"), [w[:20] for w in writes]
    assert writes[1].endswith(b"\x88\x06\x03\xe8done")


@pytest.mark.asyncio
async def test_frames_sent_over_several_steps_leave_with_their_step():
    sent = asyncio.Event()

    async def app(scope, receive, send):
        await receive()
        await send({"type": "websocket.accept"})
        for step in range(3):
            await send({"type": "websocket.send", "text": f"{step}a"})
            await send({"type": "websocket.send", "text": f"{step}b"})
            await asyncio.sleep(0.05)
        sent.set()
        await receive()  # until the client closes

    writes = []
    async with _serving(app, writes) as url, websockets.connect(url) as ws:
        # Each step's frames arrive without waiting for the next step.
        received = [await asyncio.wait_for(ws.recv(), 5) for _ in range(6)]
        await sent.wait()
    assert received == ["0a", "0b", "1a", "1b", "2a", "2b"]
    assert writes[1:4] == [b"\x81\x02%da\x81\x02%db" % (step, step) for step in range(3)]
