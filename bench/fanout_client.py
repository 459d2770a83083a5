"""A load of WebSocket subscribers for bench_fanout (run as a process of its own).

    python -m bench.fanout_client PORT CONNECTIONS SECONDS OUT.json

Opens CONNECTIONS sockets to /ws/v1/, each subscribed to the BTC-USDT book (depth 50) and trades,
says "ready" on stdout, then counts every message for SECONDS and writes the count and, for each
book update, the delay from the matcher's commit (the update's `time`) to its arrival here.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from datetime import datetime


async def subscriber(port: int, ready: asyncio.Event, started: asyncio.Event, stop: asyncio.Event, stats: dict):
    import websockets

    async with websockets.connect(f"ws://127.0.0.1:{port}/ws/v1/", origin=f"http://127.0.0.1:{port}",
                                  max_size=2**24, ping_interval=None) as ws:  # fmt: skip
        await ws.send(json.dumps({"op": "subscribe", "channel": "book", "symbol": "BTC-USDT", "depth": 50}))
        await ws.send(json.dumps({"op": "subscribe", "channel": "trades", "symbol": "BTC-USDT"}))
        seen = 0
        while seen < 3:  # subscribed, snapshot, subscribed
            seen += json.loads(await ws.recv())["type"] in ("subscribed", "snapshot")
        stats["connected"] += 1
        if stats["connected"] == stats["wanted"]:
            ready.set()
        await started.wait()
        delays, count = stats["delays"], 0
        while not stop.is_set():
            try:
                raw = await asyncio.wait_for(ws.recv(), 0.5)
            except TimeoutError:
                continue
            arrived = time.time()
            count += 1
            if raw.startswith('{"channel": "book", "type": "update"'):
                stamp = raw[raw.rindex('"time": "') + 9 : -2]
                delays.append(arrived - datetime.fromisoformat(stamp).timestamp())
        stats["messages"] += count


async def main(port: int, connections: int, seconds: float, out: str) -> None:
    ready, started, stop = asyncio.Event(), asyncio.Event(), asyncio.Event()
    stats = {"wanted": connections, "connected": 0, "messages": 0, "delays": []}
    tasks = []
    for _ in range(connections):
        tasks.append(asyncio.create_task(subscriber(port, ready, started, stop, stats)))
        await asyncio.sleep(0.002)
    await asyncio.wait_for(ready.wait(), 120)
    print("ready", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)  # "go"
    started.set()
    begin = time.perf_counter()
    await asyncio.sleep(seconds)
    stop.set()
    await asyncio.gather(*tasks)
    elapsed = time.perf_counter() - begin
    with open(out, "w") as f:
        json.dump({"messages": stats["messages"], "seconds": elapsed, "delays": stats["delays"]}, f)


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]), sys.argv[4]))
