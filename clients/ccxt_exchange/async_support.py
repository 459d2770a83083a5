"""The ccxt class for asyncio (`ccxt.async_support.Exchange`): `sync.py` with `await`. Keep the two
in step (tests/test_ccxt_exchange.py runs ccxt's tests against both)."""

from __future__ import annotations

import ccxt
import ccxt.async_support

from clients.ccxt_exchange.common import MAX_PAGES, PAGE_LIMIT, Common, ImplicitAPI


class djex(Common, ImplicitAPI, ccxt.async_support.Exchange):
    async def fetch_time(self, params={}):  # noqa: B006 - ccxt's signatures throughout
        return self.safe_integer(await self.publicGetTime(params), "epoch_ms")

    async def fetch_status(self, params={}):  # noqa: B006
        """`ok` while GET /readyz answers (PostgreSQL and Redis reachable), else `maintenance`."""
        try:
            answer = await self.rootGetReadyz(params)
            status = "ok"
        except ccxt.ExchangeError as error:
            answer, status = str(error), "maintenance"
        return {"status": status, "updated": self.milliseconds(), "eta": None, "url": None, "info": answer}

    async def fetch_currencies(self, params={}):  # noqa: B006
        currencies = [self.parse_currency(currency) for currency in await self.publicGetCurrencies(params)]
        return self.index_by(currencies, "code")

    async def fetch_markets(self, params={}):  # noqa: B006
        return [self.parse_market(market) for market in await self.publicGetMarkets(params)]

    async def fetch_trading_fees(self, params={}):  # noqa: B006
        fees = [self.parse_trading_fee(market) for market in await self.publicGetMarkets(params)]
        return self.index_by(fees, "symbol")

    async def fetch_trading_fee(self, symbol, params={}):  # noqa: B006
        return (await self.fetch_trading_fees(params))[self.symbol(symbol)]

    async def fetch_ticker(self, symbol, params={}):  # noqa: B006
        await self.load_markets()
        market = self.market(symbol)
        return self.parse_ticker(await self.publicGetMarketsSymbolTicker(self.extend({"symbol": market["id"]}, params)),
                                 market)  # fmt: skip

    async def fetch_tickers(self, symbols=None, params={}):  # noqa: B006
        await self.load_markets()
        symbols = self.market_symbols(symbols) or self.symbols
        return {symbol: await self.fetch_ticker(symbol, params) for symbol in symbols}

    async def fetch_order_book(self, symbol, limit=None, params={}):  # noqa: B006
        await self.load_markets()
        market = self.market(symbol)
        request = {"symbol": market["id"]}
        if limit is not None:
            request["depth"] = limit
        book = await self.publicGetMarketsSymbolBook(self.extend(request, params))
        result = self.parse_order_book(book, market["symbol"], self.parse8601(self.safe_string(book, "time")))
        result["nonce"] = self.safe_integer(book, "sequence")
        return result

    async def fetch_trades(self, symbol, since=None, limit=None, params={}):  # noqa: B006
        await self.load_markets()
        market = self.market(symbol)
        request = {"symbol": market["id"], "limit": min(limit or PAGE_LIMIT, PAGE_LIMIT)}
        trades = await self.publicGetMarketsSymbolTrades(self.extend(request, params))
        return self.parse_trades(trades, market, since, limit)

    async def fetch_ohlcv(self, symbol, timeframe="1m", since=None, limit=None, params={}):  # noqa: B006
        await self.load_markets()
        market = self.market(symbol)
        request = {"symbol": market["id"], "interval": self.safe_string(self.timeframes, timeframe, timeframe),
                   "limit": min(limit or 100, 1000)}  # fmt: skip
        candles = await self.publicGetMarketsSymbolCandles(self.extend(request, params))
        return self.parse_ohlcvs(candles, market, timeframe, since, limit)

    async def fetch_balance(self, params={}):  # noqa: B006
        return self.parse_balance(await self.privateGetWallets(params))

    async def create_order(self, symbol, type, side, amount, price=None, params={}):  # noqa: B006
        await self.load_markets()
        market = self.market(symbol)
        request = self.extend(self.order_request(symbol, type, side, amount, price, self.omit(params, "wait")),
                              self.order_wait(params))  # fmt: skip
        answer = await self.privatePostOrders(request)
        return self.parse_order(answer, market)

    async def cancel_order(self, id, symbol=None, params={}):  # noqa: B006
        await self.load_markets()
        return self.parse_order(await self.privateDeleteOrdersId(self.extend({"id": id}, params)))

    async def cancel_all_orders(self, symbol=None, params={}):  # noqa: B006
        """Every open order of `symbol` (or all): the API answers how many it is cancelling."""
        await self.load_markets()
        request = {} if symbol is None else {"symbol": self.market_id(symbol)}
        return [self.safe_order({"info": await self.privateDeleteOrders(self.extend(request, params))})]

    async def fetch_order(self, id, symbol=None, params={}):  # noqa: B006
        await self.load_markets()
        return self.parse_order(await self.privateGetOrdersId(self.extend({"id": id}, params)))

    async def _paged(self, endpoint, request, time_key, since, limit):
        """The rows of as many pages as `since` and `limit` ask for (at most MAX_PAGES), newest first."""
        rows = []
        for _ in range(MAX_PAGES):
            page = await endpoint(request)
            rows += page["results"]
            request = self.next_request(page)
            if request is None or self.read_enough(rows, time_key, since, limit):
                break
        return self.newest(rows, since, limit)

    async def _orders(self, status, symbol, since, limit, params):
        await self.load_markets()
        market = None if symbol is None else self.market(symbol)
        request = self.extend(self.order_list_request(status, symbol, self.page_size(since, limit), since), params)
        rows = await self._paged(self.privateGetOrders, request, "created_at", since, limit)
        return self.parse_orders(rows, market, since, limit)

    async def fetch_open_orders(self, symbol=None, since=None, limit=None, params={}):  # noqa: B006
        return await self._orders("open", symbol, since, limit, params)

    async def fetch_closed_orders(self, symbol=None, since=None, limit=None, params={}):  # noqa: B006
        return await self._orders("closed", symbol, since, limit, params)

    async def fetch_orders(self, symbol=None, since=None, limit=None, params={}):  # noqa: B006
        return await self._orders("all", symbol, since, limit, params)

    async def fetch_my_trades(self, symbol=None, since=None, limit=None, params={}):  # noqa: B006
        await self.load_markets()
        market = None if symbol is None else self.market(symbol)
        request = {"limit": self.page_size(since, limit)}
        if market is not None:
            request["symbol"] = market["id"]
        if since is not None:
            request["from"] = since  # fills at or after (unix milliseconds)
        rows = await self._paged(self.privateGetTrades, self.extend(request, params), "time", since, limit)
        return self.parse_trades(rows, market, since, limit)

    async def _transfers(self, endpoint, time_key, code, since, limit, params):
        await self.load_markets()
        currency = None if code is None else self.currency(code)
        request = self.extend({"limit": self.page_size(since, limit)}, params)
        rows = await self._paged(endpoint, request, time_key, since, limit)
        return self.parse_transactions(rows, currency, since, limit)

    async def fetch_deposits(self, code=None, since=None, limit=None, params={}):  # noqa: B006
        return await self._transfers(self.privateGetDeposits, "detected_at", code, since, limit, params)

    async def fetch_withdrawals(self, code=None, since=None, limit=None, params={}):  # noqa: B006
        return await self._transfers(self.privateGetWithdrawals, "created_at", code, since, limit, params)

    async def fetch_deposit_address(self, code, params={}):  # noqa: B006
        await self.load_markets()
        currency = self.currency(code)
        answer = await self.privateGetWalletsCurrencyDepositAddress(self.extend({"currency": currency["id"]}, params))
        return self.parse_deposit_address(answer, currency)

    async def withdraw(self, code, amount, address, tag=None, params={}):  # noqa: B006
        """`params["otp_code"]`: the account's current TOTP code (withdrawals need two-factor)."""
        await self.load_markets()
        currency = self.currency(code)
        request = {"currency": currency["id"], "amount": self.currency_to_precision(code, amount), "address": address}
        return self.parse_transaction(await self.privatePostWithdrawals(self.extend(request, params)), currency)
