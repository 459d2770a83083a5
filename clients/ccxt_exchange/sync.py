"""The ccxt class, synchronous (`ccxt.Exchange`). `async_support.py` is the same for asyncio: keep
the two in step (tests/test_ccxt_exchange.py runs ccxt's tests against both)."""

from __future__ import annotations

import ccxt

from clients.ccxt_exchange.common import MAX_PAGES, PAGE_LIMIT, Common, ImplicitAPI


class djex(Common, ImplicitAPI, ccxt.Exchange):
    def fetch_time(self, params={}):  # noqa: B006 - ccxt's signatures throughout
        return self.safe_integer(self.publicGetTime(params), "epoch_ms")

    def fetch_status(self, params={}):  # noqa: B006
        """`ok` while GET /readyz answers (PostgreSQL and Redis reachable), else `maintenance`."""
        try:
            answer = self.rootGetReadyz(params)
            status = "ok"
        except ccxt.ExchangeError as error:
            answer, status = str(error), "maintenance"
        return {"status": status, "updated": self.milliseconds(), "eta": None, "url": None, "info": answer}

    def fetch_currencies(self, params={}):  # noqa: B006
        currencies = [self.parse_currency(currency) for currency in self.publicGetCurrencies(params)]
        return self.index_by(currencies, "code")

    def fetch_markets(self, params={}):  # noqa: B006
        return [self.parse_market(market) for market in self.publicGetMarkets(params)]

    def fetch_trading_fees(self, params={}):  # noqa: B006
        fees = [self.parse_trading_fee(market) for market in self.publicGetMarkets(params)]
        return self.index_by(fees, "symbol")

    def fetch_trading_fee(self, symbol, params={}):  # noqa: B006
        return self.fetch_trading_fees(params)[self.symbol(symbol)]

    def fetch_ticker(self, symbol, params={}):  # noqa: B006
        self.load_markets()
        market = self.market(symbol)
        return self.parse_ticker(self.publicGetMarketsSymbolTicker(self.extend({"symbol": market["id"]}, params)),
                                 market)  # fmt: skip

    def fetch_tickers(self, symbols=None, params={}):  # noqa: B006
        self.load_markets()
        symbols = self.market_symbols(symbols) or self.symbols
        return {symbol: self.fetch_ticker(symbol, params) for symbol in symbols}

    def fetch_order_book(self, symbol, limit=None, params={}):  # noqa: B006
        self.load_markets()
        market = self.market(symbol)
        request = {"symbol": market["id"]}
        if limit is not None:
            request["depth"] = limit
        book = self.publicGetMarketsSymbolBook(self.extend(request, params))
        result = self.parse_order_book(book, market["symbol"], self.parse8601(self.safe_string(book, "time")))
        result["nonce"] = self.safe_integer(book, "sequence")
        return result

    def fetch_trades(self, symbol, since=None, limit=None, params={}):  # noqa: B006
        self.load_markets()
        market = self.market(symbol)
        request = {"symbol": market["id"], "limit": min(limit or PAGE_LIMIT, PAGE_LIMIT)}
        trades = self.publicGetMarketsSymbolTrades(self.extend(request, params))
        return self.parse_trades(trades, market, since, limit)

    def fetch_ohlcv(self, symbol, timeframe="1m", since=None, limit=None, params={}):  # noqa: B006
        self.load_markets()
        market = self.market(symbol)
        request = {"symbol": market["id"], "interval": self.safe_string(self.timeframes, timeframe, timeframe),
                   "limit": min(limit or 100, 1000)}  # fmt: skip
        candles = self.publicGetMarketsSymbolCandles(self.extend(request, params))
        return self.parse_ohlcvs(candles, market, timeframe, since, limit)

    def fetch_balance(self, params={}):  # noqa: B006
        return self.parse_balance(self.privateGetWallets(params))

    def create_order(self, symbol, type, side, amount, price=None, params={}):  # noqa: B006
        self.load_markets()
        market = self.market(symbol)
        request = self.extend(self.order_request(symbol, type, side, amount, price, self.omit(params, "wait")),
                              self.order_wait(params))  # fmt: skip
        answer = self.privatePostOrders(request)
        return self.parse_order(answer, market)

    def cancel_order(self, id, symbol=None, params={}):  # noqa: B006
        self.load_markets()
        return self.parse_order(self.privateDeleteOrdersId(self.extend({"id": id}, params)))

    def cancel_all_orders(self, symbol=None, params={}):  # noqa: B006
        """Every open order of `symbol` (or all): the API answers how many it is cancelling."""
        self.load_markets()
        request = {} if symbol is None else {"symbol": self.market_id(symbol)}
        return [self.safe_order({"info": self.privateDeleteOrders(self.extend(request, params))})]

    def fetch_order(self, id, symbol=None, params={}):  # noqa: B006
        self.load_markets()
        return self.parse_order(self.privateGetOrdersId(self.extend({"id": id}, params)))

    def _paged(self, endpoint, request, time_key, since, limit):
        """The rows of as many pages as `since` and `limit` ask for (at most MAX_PAGES), newest first."""
        rows = []
        for _ in range(MAX_PAGES):
            page = endpoint(request)
            rows += page["results"]
            request = self.next_request(page)
            if request is None or self.read_enough(rows, time_key, since, limit):
                break
        return self.newest(rows, since, limit)

    def _orders(self, status, symbol, since, limit, params):
        self.load_markets()
        market = None if symbol is None else self.market(symbol)
        request = self.extend(self.order_list_request(status, symbol, self.page_size(since, limit), since), params)
        rows = self._paged(self.privateGetOrders, request, "created_at", since, limit)
        return self.parse_orders(rows, market, since, limit)

    def fetch_open_orders(self, symbol=None, since=None, limit=None, params={}):  # noqa: B006
        return self._orders("open", symbol, since, limit, params)

    def fetch_closed_orders(self, symbol=None, since=None, limit=None, params={}):  # noqa: B006
        return self._orders("closed", symbol, since, limit, params)

    def fetch_orders(self, symbol=None, since=None, limit=None, params={}):  # noqa: B006
        return self._orders("all", symbol, since, limit, params)

    def fetch_my_trades(self, symbol=None, since=None, limit=None, params={}):  # noqa: B006
        self.load_markets()
        market = None if symbol is None else self.market(symbol)
        request = {"limit": self.page_size(since, limit)}
        if market is not None:
            request["symbol"] = market["id"]
        if since is not None:
            request["from"] = since  # fills at or after (unix milliseconds)
        rows = self._paged(self.privateGetTrades, self.extend(request, params), "time", since, limit)
        return self.parse_trades(rows, market, since, limit)

    def _transfers(self, endpoint, time_key, code, since, limit, params):
        self.load_markets()
        currency = None if code is None else self.currency(code)
        request = self.extend({"limit": self.page_size(since, limit)}, params)
        rows = self._paged(endpoint, request, time_key, since, limit)
        return self.parse_transactions(rows, currency, since, limit)

    def fetch_deposits(self, code=None, since=None, limit=None, params={}):  # noqa: B006
        return self._transfers(self.privateGetDeposits, "detected_at", code, since, limit, params)

    def fetch_withdrawals(self, code=None, since=None, limit=None, params={}):  # noqa: B006
        return self._transfers(self.privateGetWithdrawals, "created_at", code, since, limit, params)

    def fetch_deposit_address(self, code, params={}):  # noqa: B006
        self.load_markets()
        currency = self.currency(code)
        answer = self.privateGetWalletsCurrencyDepositAddress(self.extend({"currency": currency["id"]}, params))
        return self.parse_deposit_address(answer, currency)

    def withdraw(self, code, amount, address, tag=None, params={}):  # noqa: B006
        """`params["otp_code"]`: the account's current TOTP code (withdrawals need two-factor)."""
        self.load_markets()
        currency = self.currency(code)
        request = {"currency": currency["id"], "amount": self.currency_to_precision(code, amount), "address": address}
        return self.parse_transaction(self.privatePostWithdrawals(self.extend(request, params)), currency)
