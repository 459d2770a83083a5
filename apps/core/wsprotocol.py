"""uvicorn's WebSocket protocol (websockets, sans-I/O) writing the frames of one event-loop step to the
socket together (Procfile `stream:`, `--ws apps.core.wsprotocol:CoalescingWebSocketProtocol`).

uvicorn writes every frame to its socket as it is sent: one `send()` system call per frame and client.
A market feed hands each subscriber a book update and the batch's trades in one step, so with 200
subscribers of a busy market that was 20,000-30,000 system calls a second, each waking the reader,
and a quarter of the stream process's CPU time in the kernel (bench/stream_under_load.py). Here a
`websocket.send` only adds its frame to the connection's outgoing buffer, and one callback, scheduled
by the first frame, writes what the step buffered in one call. Frames keep their order with
everything else uvicorn writes (pings, pongs, the close frame): each of those writes drains the same
buffer, ours included, first. The ASGI contract is
unchanged: `send` still waits while the transport is paused (a client not reading), and raises once
the client is gone.
"""

from __future__ import annotations

from uvicorn.protocols.utils import ClientDisconnected
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.exceptions import InvalidState


class CoalescingWebSocketProtocol(WebSocketsSansIOProtocol):
    flush_scheduled = False

    async def send(self, message) -> None:
        if (
            message["type"] != "websocket.send"
            or not self.handshake_complete
            or self.close_sent
            or self.initial_response is not None
        ):
            await super().send(message)  # the handshake, a close, a refusal: as uvicorn does them
            return
        await self.writable.wait()
        if self.disconnected:
            raise ClientDisconnected()
        try:
            data = message.get("bytes")
            if data is not None:
                self.conn.send_binary(data)
            elif (text := message.get("text")) is not None:
                self.conn.send_text(text.encode())
        except InvalidState:
            raise ClientDisconnected() from None
        if not self.flush_scheduled:
            self.flush_scheduled = True
            self.loop.call_soon(self.flush)

    def flush(self) -> None:
        self.flush_scheduled = False
        output = self.conn.data_to_send()
        if output and not self.transport.is_closing():
            self.transport.write(b"".join(output))
