"""The book's checksum is the same rule on both paths: a REST book and a WebSocket snapshot of the
same depth at the same sequence carry the same checksum, computed over the first min(depth, 10)
levels of each side of what the message shows (docs/api.md "Markets and market data", the book
checksum; docs/streaming.md)."""

from __future__ import annotations

import asyncio
import zlib

import pytest
from channels.testing import WebsocketCommunicator
from rest_framework.test import APIClient

from apps.matching.testing import run_once
from exchange.asgi import application
from tests.factories import funded_trader, place

# The WebSocket consumer reads the market from a thread of its own (database_sync_to_async), on its own
# connection: the orders must be committed.
pytestmark = pytest.mark.django_db(transaction=True)

DEPTHS = (1, 5, 9, 10, 11, 15, 50)


def checksum_by_the_rule(bids: list[list[str]], asks: list[list[str]], depth: int) -> int:
    """Written from the documentation, not from the code: CRC32 (unsigned) of the top min(depth, 10)
    asks (lowest first) then bids (highest first), each as price then quantity with the decimal point
    removed and leading zeros stripped."""
    top = min(depth, 10)
    text = "".join(
        price.replace(".", "").lstrip("0") + quantity.replace(".", "").lstrip("0")
        for price, quantity in [*asks[:top], *bids[:top]]
    )
    return zlib.crc32(text.encode()) & 0xFFFFFFFF


async def snapshots(depths) -> dict[int, dict]:
    ws = WebsocketCommunicator(application, "/ws/v1/", headers=[(b"origin", b"http://localhost")])
    connected, _ = await ws.connect()
    assert connected
    found = {}
    try:
        for depth in depths:
            await ws.send_json_to({"op": "subscribe", "channel": "book", "symbol": "BTC-USDT", "depth": depth})
            assert (await ws.receive_json_from(timeout=10))["type"] == "subscribed"
            found[depth] = await ws.receive_json_from(timeout=10)
    finally:
        await ws.disconnect()
    return found


def test_rest_and_websocket_books_of_one_depth_carry_the_same_checksum(market):
    maker = funded_trader(btc="100", usdt="100000")
    for level in range(15):  # 15 levels a side, quantities that differ per level
        place(maker, side="buy", type="limit", price=f"{99 - level}.{level:02d}", quantity=f"{level + 1}.{level:04d}")
        place(maker, side="sell", type="limit", price=f"{101 + level}.50", quantity=f"1.{level:04d}")
    run_once()
    streamed = asyncio.run(snapshots(DEPTHS))
    checksums = set()
    for depth in DEPTHS:
        rest = APIClient().get(f"/api/v1/markets/BTC-USDT/book?depth={depth}").json()
        ws = streamed[depth]
        assert ws["type"] == "snapshot" and ws["sequence"] == rest["sequence"] > 0
        assert (ws["bids"], ws["asks"]) == (rest["bids"], rest["asks"])
        assert len(rest["bids"]) == len(rest["asks"]) == min(depth, 15)
        expected = checksum_by_the_rule(rest["bids"], rest["asks"], depth)
        assert ws["checksum"] == rest["checksum"] == expected, depth
        checksums.add(expected)
    # Below 10 the checksum covers what the message shows; from 10 on, always the top 10.
    assert len(checksums) == len([d for d in DEPTHS if d < 10]) + 1
