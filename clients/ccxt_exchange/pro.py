"""The ccxt.pro class: `async_support.djex` with the WebSocket stream (`/ws/v1/`, docs/api.md
"WebSocket"). ccxt.pro's exchanges subclass the async REST class; `watch()`, the client and the
order book caches are ccxt's own.

    from clients.ccxt_exchange.pro import djex
    exchange = djex({"hostname": "127.0.0.1:8000", "options": {"streamHostname": "127.0.0.1:8001"}})
    book = await exchange.watch_order_book("BTC/USDT")

The stream is served by its own process (`make run`: port 8001); `streamHostname` says where
(default: `hostname`). The public channels are `book` (a snapshot, then updates, each with its
sequence and the CRC32 checksum of the top levels, both checked here), `trades` and `ticker`; the
private `orders` channel (after `{"op": "auth"}` with the API key) carries the user's orders, fills
and balances, for watch_orders, watch_my_trades and watch_balance. There are no candles on the
stream: watch_ohlcv is not offered.
"""

from __future__ import annotations

import hashlib
import zlib

from ccxt.async_support.base.ws.cache import ArrayCache, ArrayCacheBySymbolById
from ccxt.base.decimal_to_precision import PAD_WITH_ZERO, ROUND
from ccxt.base.errors import AuthenticationError, ChecksumError, ExchangeError, InvalidNonce

from clients.ccxt_exchange import async_support
from clients.ccxt_exchange.common import ERRORS

BOOK_DEPTH = 50  # levels per side a book subscription asks for, unless watch_order_book's limit says


class djex(async_support.djex):
    def describe(self):
        return self.deep_extend(super().describe(), {
            "pro": True,
            "has": {"ws": True, "watchOrderBook": True, "watchTrades": True, "watchTicker": True,
                    "watchOrders": True, "watchMyTrades": True, "watchBalance": True, "watchOHLCV": False},
            "urls": {"api": {"ws": "ws://{streamHostname}/ws/v1/"}},
            "options": {"streamHostname": None, "tradesLimit": 1000, "ordersLimit": 1000,
                        "watchOrderBook": {"checksum": True}},
            "streaming": {"keepAlive": 20000},
        })  # fmt: skip

    def stream_url(self) -> str:
        host = self.safe_string(self.options, "streamHostname") or self.hostname
        return self.urls["api"]["ws"].replace("{streamHostname}", host)

    # --- public channels ------------------------------------------------------------------------

    async def _subscribe(self, channel: str, symbol: str, extra: dict):
        await self.load_markets()
        market = self.market(symbol)
        message_hash = channel + ":" + market["id"]
        request = self.extend({"op": "subscribe", "channel": channel, "symbol": market["id"]}, extra)
        return await self.watch(self.stream_url(), message_hash, request, message_hash)

    async def watch_order_book(self, symbol, limit=None, params={}):  # noqa: B006 - ccxt's signatures
        book = await self._subscribe("book", symbol, self.extend({"depth": limit or BOOK_DEPTH}, params))
        return book.limit()

    async def watch_trades(self, symbol, since=None, limit=None, params={}):  # noqa: B006
        trades = await self._subscribe("trades", symbol, params)
        if self.newUpdates:
            limit = trades.getLimit(self.symbol(symbol), limit)
        return self.filter_by_since_limit(trades, since, limit, "timestamp", True)

    async def watch_ticker(self, symbol, params={}):  # noqa: B006
        return await self._subscribe("ticker", symbol, params)

    # --- the private channel ----------------------------------------------------------------------

    async def authenticate(self):
        """Once per connection: every private watch awaits the same answer, later ones return at once
        (a new connection starts with no subscriptions, so it authenticates again)."""
        url = self.stream_url()
        client = self.client(url)
        state = client.subscriptions.get("authenticated")
        if isinstance(state, dict) and state.get("done"):
            return True
        future = client.reusableFuture("authenticated")
        if state is None:
            self.check_required_credentials()
            timestamp = self.nonce()
            signature = self.hmac(self.encode(str(timestamp) + "GET" + "/ws/v1/"), self.encode(self.secret),
                                  hashlib.sha256)  # fmt: skip
            request = {"op": "auth", "api_key": self.apiKey, "timestamp": timestamp, "signature": signature}
            self.watch(url, "authenticated", request, "authenticated")  # sends it; answered in handle_message
        return await future

    async def _private(self, message_hash: str):
        await self.load_markets()
        await self.authenticate()
        return await self.watch(self.stream_url(), message_hash, {"op": "subscribe", "channel": "orders"}, "orders")

    async def watch_orders(self, symbol=None, since=None, limit=None, params={}):  # noqa: B006
        orders = await self._private("orders" if symbol is None else "orders:" + self.symbol(symbol))
        if self.newUpdates:
            limit = orders.getLimit(symbol, limit)
        return self.filter_by_symbol_since_limit(orders, symbol, since, limit, True)

    async def watch_my_trades(self, symbol=None, since=None, limit=None, params={}):  # noqa: B006
        trades = await self._private("myTrades" if symbol is None else "myTrades:" + self.symbol(symbol))
        if self.newUpdates:
            limit = trades.getLimit(symbol, limit)
        return self.filter_by_symbol_since_limit(trades, symbol, since, limit, True)

    async def watch_balance(self, params={}):  # noqa: B006
        if not self.balance:  # the stream sends changes only: start from the balances as they are
            self.balance = await self.fetch_balance()
        return await self._private("balance")

    # --- messages ---------------------------------------------------------------------------------

    def handle_message(self, client, message):
        kind = self.safe_string(message, "type")
        if kind == "authenticated":
            client.subscriptions["authenticated"] = {"done": True}
            client.resolve(True, "authenticated")
        elif kind == "error":
            self.handle_error_message(client, message)
        elif kind in ("subscribed", "unsubscribed", "heartbeat", "pong"):
            return
        else:
            handler = {"book": self.handle_order_book, "trades": self.handle_trade, "ticker": self.handle_ticker,
                       "orders": self.handle_private}.get(self.safe_string(message, "channel"))  # fmt: skip
            if handler is not None:
                handler(client, message)

    def handle_error_message(self, client, message):
        code = self.safe_string(message, "code")
        error = ERRORS.get(code, ExchangeError)(self.id + " " + self.json(message))
        if code in ("invalid_api_key", "invalid_signature", "invalid_timestamp", "replayed_request",
                    "not_authenticated", "authentication_failed", "already_authenticated"):  # fmt: skip
            if not isinstance(error, (AuthenticationError, InvalidNonce)):
                error = AuthenticationError(str(error))
            client.reject(error, "authenticated")
            client.subscriptions.pop("authenticated", None)
        else:
            client.reject(error)

    def handle_order_book(self, client, message):
        market = self.safe_market(self.safe_string(message, "symbol"))
        symbol, message_hash = market["symbol"], "book:" + market["id"]
        sequence = self.safe_integer(message, "sequence")
        if self.safe_string(message, "type") == "snapshot":
            snapshot = self.parse_order_book(message, symbol, self.milliseconds())
            snapshot["nonce"] = sequence
            self.orderbooks[symbol] = self.order_book(snapshot)
        else:
            book = self.safe_value(self.orderbooks, symbol)
            if book is None:
                return
            if sequence != book["nonce"] + 1:  # a gap: ccxt's tests expect InvalidNonce, then a new snapshot
                self._drop_book(client, symbol, message_hash)
                client.reject(InvalidNonce(f"{self.id} {symbol}: sequence {sequence} after {book['nonce']}"),
                              message_hash)  # fmt: skip
                return
            for side in ("bids", "asks"):
                for price, amount in self.safe_list(message, side, []):
                    book[side].store(self.parse_number(price), self.parse_number(amount))  # 0 removes
            book["nonce"] = sequence
            book["timestamp"] = self.milliseconds()
            book["datetime"] = self.iso8601(book["timestamp"])
        book = self.orderbooks[symbol]
        checksum = self.safe_integer(message, "checksum")
        checked = checksum is not None and self.handle_option("watchOrderBook", "checksum", True)
        if checked and self.book_checksum(book, market) != checksum:
            self._drop_book(client, symbol, message_hash)
            client.reject(ChecksumError(self.id + " " + self.orderbook_checksum_message(symbol)), message_hash)
            return
        client.resolve(book, message_hash)

    def book_checksum(self, book, market) -> int:
        """docs/api.md "The book checksum": CRC32 of the top 10 asks (lowest first) then bids (highest
        first), each level's price and quantity in the market's precision, decimal point removed and
        leading zeros stripped."""

        def text(value, step):
            shown = self.decimal_to_precision(value, ROUND, step, self.precisionMode, PAD_WITH_ZERO)
            return shown.replace(".", "").lstrip("0")

        tick, lot = market["precision"]["price"], market["precision"]["amount"]
        parts = [text(price, tick) + text(amount, lot) for price, amount in book["asks"][:10]]
        parts += [text(price, tick) + text(amount, lot) for price, amount in book["bids"][:10]]
        return zlib.crc32("".join(parts).encode()) & 0xFFFFFFFF

    def _drop_book(self, client, symbol, message_hash):
        self.orderbooks.pop(symbol, None)
        client.subscriptions.pop(message_hash, None)  # the next watch_order_book subscribes again

    def handle_trade(self, client, message):
        market = self.safe_market(self.safe_string(message, "symbol"))
        stored = self.safe_value(self.trades, market["symbol"])
        if stored is None:
            stored = ArrayCache(self.safe_integer(self.options, "tradesLimit", 1000))
            self.trades[market["symbol"]] = stored
        stored.append(self.parse_trade(message, market))
        client.resolve(stored, "trades:" + market["id"])

    def handle_ticker(self, client, message):
        market = self.safe_market(self.safe_string(message, "symbol"))
        ticker = self.parse_ticker(message, market)
        self.tickers[market["symbol"]] = ticker
        client.resolve(ticker, "ticker:" + market["id"])

    def handle_private(self, client, message):
        kind = self.safe_string(message, "type")
        if kind == "order":
            if self.orders is None:
                self.orders = ArrayCacheBySymbolById(self.safe_integer(self.options, "ordersLimit", 1000))
            order = self.parse_order(self.safe_dict(message, "order"))
            self.orders.append(order)
            client.resolve(self.orders, "orders")
            client.resolve(self.orders, "orders:" + order["symbol"])
        elif kind == "fill":
            if self.myTrades is None:
                self.myTrades = ArrayCacheBySymbolById(self.safe_integer(self.options, "tradesLimit", 1000))
            trade = self.parse_trade(self.safe_dict(message, "trade"))
            self.myTrades.append(trade)
            client.resolve(self.myTrades, "myTrades")
            client.resolve(self.myTrades, "myTrades:" + trade["symbol"])
        elif kind == "balance":
            code = self.safe_currency_code(self.safe_string(message, "currency"))
            account = self.account()
            account["free"] = self.safe_string(message, "available")
            account["used"] = self.safe_string(message, "locked")
            self.balance[code] = account
            self.balance = self.safe_balance(self.balance)
            client.resolve(self.balance, "balance")
