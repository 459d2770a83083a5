"""Reference market-data client: keeps a local order book from /ws/v1/ and proves it.

    python -m apps.markets.client BTC-USDT [--url ws://127.0.0.1:8000/ws/v1/] [--depth 50] [--levels 5]

It subscribes to the `book` channel, applies the snapshot and then every update in sequence, checks
the CRC32 checksum of docs/api.md after each message, and prints the top of the book. A gap in the
sequence or a checksum that does not match makes it resubscribe (a fresh snapshot) and say so.
`LocalBook` is the part to copy into your own client: it has no dependency on Django.

The default URL is the web port of `make run`: the web pool answers `/ws/v1/` with a 307 to the
stream process (STREAM_PORT), which `websockets` follows, so the client needs to know one address.
Give the stream's own URL (ws://127.0.0.1:8001/ws/v1/ under `make run`) to skip the redirect.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
import zlib
from collections.abc import Callable
from decimal import Decimal

import websockets


def book_checksum(bids: list[list[str]], asks: list[list[str]]) -> int:
    """docs/api.md: CRC32 of the top 10 asks (lowest first) then the top 10 bids (highest first), each
    level as price then quantity with the decimal point removed and leading zeros stripped."""
    text = "".join(p.replace(".", "").lstrip("0") + q.replace(".", "").lstrip("0") for p, q in [*asks[:10], *bids[:10]])
    return zlib.crc32(text.encode()) & 0xFFFFFFFF


class BookError(Exception):
    """The local book cannot follow the stream: resubscribe."""


class LocalBook:
    def __init__(self, symbol: str):
        self.symbol = symbol
        self.sequence: int | None = None
        self.bids: dict[Decimal, tuple[str, str]] = {}
        self.asks: dict[Decimal, tuple[str, str]] = {}

    def best_first(self) -> tuple[list[list[str]], list[list[str]]]:
        bids = [list(self.bids[p]) for p in sorted(self.bids, reverse=True)]
        asks = [list(self.asks[p]) for p in sorted(self.asks)]
        return bids, asks

    def checksum(self) -> int:
        return book_checksum(*self.best_first())

    def apply(self, message: dict) -> None:
        """Apply a snapshot or an update of this symbol; BookError on a gap or a checksum mismatch."""
        kind = message["type"]
        if kind == "snapshot":
            self.bids.clear()
            self.asks.clear()
        elif self.sequence is None:
            raise BookError("an update before any snapshot")
        elif message["sequence"] != self.sequence + 1:
            raise BookError(f"sequence gap: {message['sequence']} after {self.sequence}")
        for side, levels in ((self.bids, message["bids"]), (self.asks, message["asks"])):
            for price, quantity in levels:
                key = Decimal(price)
                if Decimal(quantity) == 0:
                    side.pop(key, None)
                else:
                    side[key] = (price, quantity)
        self.sequence = message["sequence"]
        if self.checksum() != message["checksum"]:
            raise BookError(f"checksum mismatch at sequence {self.sequence}")


class BookClient:
    """Follows one market's book over a WebSocket. `on_book(book, message)` is called after each
    message applied and verified. Counts what went wrong (`gaps`, `mismatches`) and every
    resubscription (`resyncs`)."""

    def __init__(self, url: str, symbol: str, depth: int = 50, origin: str | None = None):
        self.url, self.symbol, self.depth, self.origin = url, symbol.upper(), depth, origin
        self.book = LocalBook(self.symbol)
        self.messages = self.resyncs = self.gaps = self.mismatches = 0
        self.ws = None

    async def subscribe(self) -> None:
        await self.ws.send(json.dumps({"op": "subscribe", "channel": "book", "symbol": self.symbol,
                                       "depth": self.depth}))  # fmt: skip

    async def handle(self, message: dict) -> bool:
        """True when the message was a book message of ours, applied and verified."""
        if message.get("type") == "error":
            raise RuntimeError(f"{message['code']}: {message['message']}")
        if message.get("channel") != "book" or message.get("symbol") != self.symbol:
            return False
        if message.get("type") not in ("snapshot", "update"):
            return False  # subscribed / unsubscribed
        if message["type"] == "update" and self.book.sequence is None:
            return False  # left over from before a resubscription
        try:
            self.book.apply(message)
        except BookError as exc:
            if "gap" in str(exc):
                self.gaps += 1
            else:
                self.mismatches += 1
            print(f"{self.symbol}: {exc}; resubscribing", file=sys.stderr)
            self.resyncs += 1
            self.book.sequence = None
            await self.subscribe()
            return False
        self.messages += 1
        return True

    async def run(self, on_book: Callable[[LocalBook, dict], object] | None = None, stop=None) -> None:
        async with websockets.connect(self.url, origin=self.origin, max_size=2**24) as ws:
            self.ws = ws
            await self.subscribe()
            while stop is None or not stop.is_set():
                try:
                    raw = await asyncio.wait_for(ws.recv(), 1.0)
                except TimeoutError:
                    continue
                message = json.loads(raw)
                if await self.handle(message) and on_book is not None:
                    on_book(self.book, message)


def top_of_book(book: LocalBook, levels: int) -> str:
    bids, asks = book.best_first()
    lines = [f"{book.symbol}  sequence {book.sequence}  checksum {book.checksum()} ok"]
    for price, quantity in reversed(asks[:levels]):
        lines.append(f"  ask {price:>18} {quantity:>18}")
    lines.append("  " + "-" * 41)
    for price, quantity in bids[:levels]:
        lines.append(f"  bid {price:>18} {quantity:>18}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m apps.markets.client", description=__doc__.splitlines()[0])
    parser.add_argument("symbol", help="for example BTC-USDT")
    parser.add_argument("--url", default="ws://127.0.0.1:8000/ws/v1/")
    parser.add_argument("--origin", default=None, help="Origin header (default: none, as any non-browser client)")
    parser.add_argument("--depth", type=int, default=50, help="levels per side to follow (the view's size)")
    parser.add_argument("--levels", type=int, default=5, help="levels per side to print")
    parser.add_argument("--count", type=int, default=0, help="stop after this many book messages (0: never)")
    args = parser.parse_args(argv)
    client = BookClient(args.url, args.symbol, args.depth, origin=args.origin)
    stop = asyncio.Event()

    def show(book: LocalBook, _message: dict) -> None:
        print(top_of_book(book, args.levels), flush=True)
        if args.count and client.messages >= args.count:
            stop.set()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(client.run(show, stop))
    print(f"{client.messages} messages verified, {client.resyncs} resubscriptions "
          f"({client.gaps} gaps, {client.mismatches} checksum mismatches)", file=sys.stderr)  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
