"""A load of WebSocket subscribers for bench_fanout (run as a process of its own).

    python -m bench.fanout_client PORT CONNECTIONS SECONDS OUT.json

Opens CONNECTIONS sockets to /ws/v1/, each subscribed to the BTC-USDT book (depth 50) and trades,
says "ready" on stdout, then counts every message for SECONDS and writes the count and, for each
book update, the delay from the matcher's commit (the update's `time`) to its arrival here.

The subscribers are deliberately thin (an asyncio protocol that parses WebSocket frame headers and
reads only the timestamps): on a 2-core machine every cycle a client spends is taken from the
server being measured.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import struct
import sys
import time
from datetime import datetime

UPDATE = b'{"channel": "book", "type": "update"'
TIME = b'"time": "'


def _frame(text: str) -> bytes:
    """A masked client text frame."""
    data, mask = text.encode(), os.urandom(4)
    header = (
        bytes([0x81, 0x80 | len(data)]) if len(data) < 126 else bytes([0x81, 0x80 | 126]) + struct.pack("!H", len(data))
    )
    return header + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(data))


class Subscriber(asyncio.Protocol):
    def __init__(self, port: int, stats: dict, started: asyncio.Event, ready):
        self.port, self.stats, self.started, self.ready = port, stats, started, ready
        self.buffer = bytearray()
        self.upgraded = False
        self.greeting = 0  # subscribed, snapshot, subscribed

    def connection_made(self, transport):
        self.transport = transport
        key = base64.b64encode(os.urandom(16)).decode()
        transport.write(f"GET /ws/v1/ HTTP/1.1\r\nHost: 127.0.0.1:{self.port}\r\nOrigin: http://127.0.0.1:{self.port}\r\n"
                        f"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                        "Sec-WebSocket-Version: 13\r\n\r\n".encode())  # fmt: skip

    def data_received(self, data: bytes):
        buffer = self.buffer
        buffer += data
        if not self.upgraded:
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            if not buffer.startswith(b"HTTP/1.1 101"):
                raise RuntimeError(bytes(buffer[:200]))
            del buffer[: end + 4]
            self.upgraded = True
            for channel, extra in (("book", ', "depth": 50'), ("trades", "")):
                self.transport.write(
                    _frame(f'{{"op": "subscribe", "channel": "{channel}", "symbol": "BTC-USDT"{extra}}}')
                )
        stats, counting, position, size = self.stats, self.started.is_set(), 0, len(buffer)
        while size - position >= 2:
            length = buffer[position + 1] & 0x7F
            header = 2
            if length == 126:
                if size - position < 4:
                    break
                length, header = struct.unpack_from("!H", buffer, position + 2)[0], 4
            elif length == 127:
                if size - position < 10:
                    break
                length, header = struct.unpack_from("!Q", buffer, position + 2)[0], 10
            if size - position < header + length:
                break
            start = position + header
            position = start + length
            if self.greeting < 3:
                self.greeting += 1
                if self.greeting == 3:
                    self.ready()
                continue
            if not counting:
                continue
            stats["messages"] += 1
            if buffer.startswith(UPDATE, start):
                stamp = buffer.rfind(TIME, start, position) + len(TIME)
                sent = datetime.fromisoformat(buffer[stamp : stamp + 24].decode()).timestamp()
                stats["delays"].append(time.time() - sent)
        del buffer[:position]


async def main(port: int, connections: int, seconds: float, out: str) -> None:
    loop = asyncio.get_running_loop()
    started, all_ready = asyncio.Event(), asyncio.Event()
    stats = {"messages": 0, "delays": [], "ready": 0}

    def ready():
        stats["ready"] += 1
        if stats["ready"] == connections:
            all_ready.set()

    transports = []
    for _ in range(connections):
        transport, _protocol = await loop.create_connection(lambda: Subscriber(port, stats, started, ready),
                                                            "127.0.0.1", port)  # fmt: skip
        transports.append(transport)
        await asyncio.sleep(0.005)
    await asyncio.wait_for(all_ready.wait(), 120)
    print("ready", flush=True)
    await loop.run_in_executor(None, sys.stdin.readline)  # "go"
    started.set()
    begin = time.perf_counter()
    await asyncio.sleep(seconds)
    started.clear()
    elapsed = time.perf_counter() - begin
    for transport in transports:
        transport.abort()
    with open(out, "w") as f:
        json.dump({"messages": stats["messages"], "seconds": elapsed, "delays": stats["delays"]}, f)


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]), sys.argv[4]))
