"""What the sync and async ccxt classes share: the exchange's description, request signing, error
mapping and the parsers from this API's answers (docs/api.md) to ccxt's unified structures. Nothing
here does I/O; `sync.py` and `async_support.py` make the requests.

ccxt for Python does not build request methods from `describe()["api"]` (its own exchanges ship
them generated, `ccxt/abstract/<id>.py`): `ImplicitAPI` declares them the same way.
"""

from __future__ import annotations

import hashlib
import threading
from urllib.parse import parse_qs, urlsplit

from ccxt.base.decimal_to_precision import TICK_SIZE
from ccxt.base.errors import (
    AccountNotEnabled,
    AuthenticationError,
    BadRequest,
    BadSymbol,
    ExchangeError,
    ExchangeNotAvailable,
    InsufficientFunds,
    InvalidAddress,
    InvalidNonce,
    InvalidOrder,
    MarketClosed,
    OrderNotFound,
    PermissionDenied,
    RateLimitExceeded,
)
from ccxt.base.types import Entry

ID = "djex"
PAGE_LIMIT = 500  # the API's largest page (docs/api.md "Lists")
MAX_PAGES = 20  # a list's pages read at most for one call (10,000 rows)
URL_PARAMETERS = ("wait",)  # query parameters of a POST (POST /orders?wait=result)

# The API's error codes (docs/api.md) as ccxt's exceptions. `not_found` is an order's only on the
# order endpoints (handle_errors); elsewhere it is a bad request.
ERRORS = {
    "invalid_request": BadRequest,
    "invalid_price_tick": InvalidOrder,
    "invalid_quantity_step": InvalidOrder,
    "below_min_notional": InvalidOrder,
    "above_max_notional": InvalidOrder,
    "above_max_quantity": InvalidOrder,
    "price_out_of_band": InvalidOrder,
    "too_many_open_orders": InvalidOrder,
    "order_closed": OrderNotFound,
    "insufficient_funds": InsufficientFunds,
    "market_halted": MarketClosed,
    "unknown_market": BadSymbol,
    "unknown_currency": BadRequest,
    "kyc_required": AccountNotEnabled,
    "two_factor_required": PermissionDenied,
    "limit_exceeded": PermissionDenied,
    "permission_denied": PermissionDenied,
    "ip_not_allowed": PermissionDenied,
    "withdrawals_halted": ExchangeNotAvailable,
    "invalid_address": InvalidAddress,
    "rate_limited": RateLimitExceeded,
    "not_authenticated": AuthenticationError,
    "invalid_api_key": AuthenticationError,
    "invalid_signature": AuthenticationError,
    "invalid_token": AuthenticationError,
    "invalid_otp": AuthenticationError,
    "invalid_timestamp": InvalidNonce,
    "replayed_request": InvalidNonce,
    "service_unavailable": ExchangeNotAvailable,
}

# Order statuses as ccxt's three (docs/api.md "Orders"): an order that ended without filling all of
# it (cancelled, rejected, an IOC's expired remainder) is `canceled`, its `info` keeps the real one.
ORDER_STATUS = {
    "new": "open",
    "partially_filled": "open",
    "filled": "closed",
    "cancelled": "canceled",
    "rejected": "canceled",
    "expired": "canceled",
}
TRANSFER_STATUS = {  # docs/api.md "Trades, portfolio, wallets"
    "pending": "pending",  # a deposit waiting for confirmations, or a withdrawal not yet decided
    "credited": "ok",  # a deposit
    "review": "pending",
    "approved": "pending",
    "sent": "pending",
    "confirmed": "ok",
    "failed": "failed",
    "cancelled": "canceled",
}


def _endpoint(path: str, api: str, method: str) -> Entry:
    return Entry(path, [api], method, {"cost": 1})


class ImplicitAPI:
    """Each endpoint under ccxt's two names (camelCase and snake_case), as ccxt/abstract/*.py does."""

    public_get_time = publicGetTime = _endpoint("time", "public", "GET")
    public_get_currencies = publicGetCurrencies = _endpoint("currencies", "public", "GET")
    public_get_markets = publicGetMarkets = _endpoint("markets", "public", "GET")
    public_get_markets_symbol_book = publicGetMarketsSymbolBook = _endpoint("markets/{symbol}/book", "public", "GET")
    public_get_markets_symbol_trades = publicGetMarketsSymbolTrades = _endpoint(
        "markets/{symbol}/trades", "public", "GET")  # fmt: skip
    public_get_markets_symbol_ticker = publicGetMarketsSymbolTicker = _endpoint(
        "markets/{symbol}/ticker", "public", "GET")  # fmt: skip
    public_get_markets_symbol_candles = publicGetMarketsSymbolCandles = _endpoint(
        "markets/{symbol}/candles", "public", "GET")  # fmt: skip
    root_get_readyz = rootGetReadyz = _endpoint("readyz", "root", "GET")
    private_get_orders = privateGetOrders = _endpoint("orders", "private", "GET")
    private_post_orders = privatePostOrders = _endpoint("orders", "private", "POST")
    private_delete_orders = privateDeleteOrders = _endpoint("orders", "private", "DELETE")
    private_get_orders_id = privateGetOrdersId = _endpoint("orders/{id}", "private", "GET")
    private_delete_orders_id = privateDeleteOrdersId = _endpoint("orders/{id}", "private", "DELETE")
    private_get_trades = privateGetTrades = _endpoint("trades", "private", "GET")
    private_get_wallets = privateGetWallets = _endpoint("wallets", "private", "GET")
    private_get_wallets_currency_deposit_address = privateGetWalletsCurrencyDepositAddress = _endpoint(
        "wallets/{currency}/deposit-address", "private", "GET")  # fmt: skip
    private_get_deposits = privateGetDeposits = _endpoint("deposits", "private", "GET")
    private_get_withdrawals = privateGetWithdrawals = _endpoint("withdrawals", "private", "GET")
    private_post_withdrawals = privatePostWithdrawals = _endpoint("withdrawals", "private", "POST")


class Common:
    """The parts of the class that do no I/O (mixed into ccxt's sync and async Exchange)."""

    _nonce_lock = threading.Lock()

    def describe(self):
        return self.deep_extend(super().describe(), {
            "id": ID,
            "name": "Exchange (Django)",
            "countries": [],
            "version": "v1",
            "rateLimit": 20,
            "pro": False,
            "options": {
                # POST /orders?wait=result: create_order answers the matcher's result (a crossing order
                # `closed` with its fill, a resting one `open`), as ccxt's users expect; "ack" answers at
                # once, before the matcher has acted.
                "createOrderWait": "result",
            },
            "hostname": "127.0.0.1:8000",  # djex({"hostname": "host:port"})
            "urls": {
                "api": {
                    "public": "http://{hostname}/api/v1",
                    "private": "http://{hostname}/api/v1",
                    "root": "http://{hostname}",
                },
                "www": "http://{hostname}/",
                "doc": "http://{hostname}/api/docs/",
            },
            "api": {  # what ImplicitAPI declares, in ccxt's format
                "public": {"get": ["time", "currencies", "markets", "markets/{symbol}/book", "markets/{symbol}/trades",
                                   "markets/{symbol}/ticker", "markets/{symbol}/candles"]},
                "root": {"get": ["readyz"]},
                "private": {
                    "get": ["orders", "orders/{id}", "trades", "wallets", "wallets/{currency}/deposit-address",
                            "deposits", "withdrawals"],
                    "post": ["orders", "withdrawals"],
                    "delete": ["orders", "orders/{id}"],
                },
            },
            "has": {
                "CORS": None, "spot": True, "margin": False, "swap": False, "future": False, "option": False,
                "cancelAllOrders": True, "cancelOrder": True, "createOrder": True,
                "createMarketBuyOrderWithCost": True, "createStopLimitOrder": True, "createStopMarketOrder": True,
                "createStopOrder": True, "createTriggerOrder": True,
                "fetchBalance": True, "fetchClosedOrders": True, "fetchCurrencies": True,
                "fetchDepositAddress": True, "fetchDeposits": True, "fetchMarkets": True, "fetchMyTrades": True,
                "fetchOHLCV": True, "fetchOpenOrders": True, "fetchOrder": True, "fetchOrderBook": True,
                "fetchOrders": True, "fetchStatus": True, "fetchTicker": True, "fetchTickers": True,
                "fetchTime": True, "fetchTrades": True, "fetchTradingFee": True, "fetchTradingFees": True,
                "fetchWithdrawals": True, "withdraw": True,
            },
            "timeframes": {"1m": "1m", "5m": "5m", "1h": "1h", "1d": "1d"},
            "precisionMode": TICK_SIZE,
            "requiredCredentials": {"apiKey": True, "secret": True},
            "fees": {"trading": {"tierBased": False, "percentage": True}},
            "features": {
                "spot": {
                    "sandbox": False,
                    "createOrder": {
                        "marginMode": False, "triggerPrice": True, "triggerPriceType": None,
                        "triggerDirection": False, "stopLossPrice": False, "takeProfitPrice": False,
                        "attachedStopLossTakeProfit": None,
                        "timeInForce": {"GTC": True, "IOC": True, "FOK": True, "PO": True, "GTD": False},
                        "hedged": False, "trailing": False, "leverage": False, "marketBuyRequiresPrice": False,
                        "marketBuyByCost": True, "selfTradePrevention": True, "iceberg": False,
                    },
                    "createOrders": None,
                    "fetchMyTrades": {"marginMode": False, "limit": PAGE_LIMIT, "daysBack": None, "untilDays": None,
                                      "symbolRequired": False},
                    "fetchOrder": {"marginMode": False, "trigger": False, "trailing": False, "symbolRequired": False},
                    "fetchOpenOrders": {"marginMode": False, "limit": PAGE_LIMIT, "trigger": False,
                                        "trailing": False, "symbolRequired": False},
                    "fetchOrders": {"marginMode": False, "limit": PAGE_LIMIT, "daysBack": None, "untilDays": None,
                                    "trigger": False, "trailing": False, "symbolRequired": False},
                    "fetchClosedOrders": {"marginMode": False, "limit": PAGE_LIMIT, "daysBack": None,
                                          "daysBackCanceled": None, "untilDays": None, "trigger": False,
                                          "trailing": False, "symbolRequired": False},
                    "fetchOHLCV": {"limit": 1000},
                },
                "swap": {"linear": None, "inverse": None},
                "future": {"linear": None, "inverse": None},
            },
            "exceptions": {"exact": ERRORS, "broad": {}},
        })  # fmt: skip

    # --- signing (docs/api.md "Conventions") ----------------------------------------------------

    def nonce(self):
        """Unix milliseconds, strictly increasing per instance: the server accepts a signature once,
        and ccxt may send requests concurrently."""
        with self._nonce_lock:
            now = self.milliseconds()
            last = self.safe_integer(self.options, "lastNonce", 0)
            value = now if now > last else last + 1
            self.options["lastNonce"] = value
            return value

    def sign(self, path, api=["public"], method="GET", params={}, headers=None, body=None):  # noqa: B006 - ccxt's signature
        section = api[0] if isinstance(api, list) else api
        root = self.implode_hostname("http://{hostname}")
        url = self.implode_hostname(self.urls["api"][section]) + "/" + self.implode_params(path, params)
        query = self.omit(params, self.extract_params(path))
        headers = {}
        body = None
        if method in ("GET", "DELETE"):
            if query:
                url += "?" + self.urlencode(query)
        else:
            in_url = {key: query[key] for key in URL_PARAMETERS if key in query}
            if in_url:
                url += "?" + self.urlencode(in_url)
            body = self.json(self.omit(query, list(URL_PARAMETERS)))
            headers["Content-Type"] = "application/json"
        if section == "private":
            self.check_required_credentials()
            timestamp = str(self.nonce())
            signed = timestamp + method + url[len(root) :] + (body or "")
            headers["X-API-Key"] = self.apiKey
            headers["X-API-Timestamp"] = timestamp
            headers["X-API-Signature"] = self.hmac(self.encode(signed), self.encode(self.secret), hashlib.sha256)
        return {"url": url, "method": method, "body": body, "headers": headers}

    def handle_errors(self, code, reason, url, method, headers, body, response, request_headers, request_body):
        if not isinstance(response, dict) or not isinstance(response.get("error"), dict):
            return None
        error_code = self.safe_string(response["error"], "code")
        feedback = self.id + " " + body
        if error_code == "not_found":
            raise (OrderNotFound if "/orders" in url else BadRequest)(feedback)
        self.throw_exactly_matched_exception(self.exceptions["exact"], error_code, feedback)
        raise ExchangeError(feedback)

    # --- parsers ----------------------------------------------------------------------------------

    def parse_market(self, market):
        market_id = self.safe_string(market, "symbol")
        base_id, quote_id = self.safe_string(market, "base"), self.safe_string(market, "quote")
        base, quote = self.safe_currency_code(base_id), self.safe_currency_code(quote_id)
        return self.safe_market_structure({
            "id": market_id, "symbol": base + "/" + quote, "base": base, "quote": quote, "settle": None,
            "baseId": base_id, "quoteId": quote_id, "settleId": None,
            "type": "spot", "spot": True, "margin": False, "swap": False, "future": False, "option": False,
            "contract": False, "linear": None, "inverse": None,
            "active": self.safe_string(market, "status") == "trading",
            "taker": self.safe_number(market, "taker_fee"), "maker": self.safe_number(market, "maker_fee"),
            "contractSize": None, "expiry": None, "expiryDatetime": None, "strike": None, "optionType": None,
            "precision": {"amount": self.safe_number(market, "lot_size"),
                          "price": self.safe_number(market, "tick_size")},
            "limits": {
                "leverage": {"min": None, "max": None},
                "amount": {"min": self.safe_number(market, "lot_size"),
                           "max": self.safe_number(market, "max_order_quantity")},
                "price": {"min": self.safe_number(market, "tick_size"), "max": None},
                "cost": {"min": self.safe_number(market, "min_notional"),
                         "max": self.safe_number(market, "max_order_notional")},
            },
            "marginModes": {"cross": False, "isolated": False},
            "created": None,
            "info": market,
        })  # fmt: skip

    def parse_currency(self, currency):
        """GET /currencies' entry: one network, the currency's own chain."""
        code = self.safe_currency_code(self.safe_string(currency, "code"))
        precision = self.parse_number(self.parse_precision(self.safe_string(currency, "decimals")))
        deposit = self.safe_bool(currency, "deposit_enabled")
        withdraw = self.safe_bool(currency, "withdraw_enabled")
        fee = self.safe_number(currency, "withdrawal_fee")
        limits = {"amount": {"min": precision, "max": None}, "deposit": {"min": None, "max": None},
                  "withdraw": {"min": self.safe_number(currency, "min_withdrawal"), "max": None}}  # fmt: skip
        network_id = self.safe_string(currency, "network")
        network_code = self.network_id_to_code(network_id, code)  # ccxt's unified name: ETH's chain is ERC20
        network = {"id": network_id, "network": network_code, "active": deposit and withdraw,
                   "deposit": deposit, "withdraw": withdraw, "fee": fee, "precision": precision, "limits": limits,
                   "info": currency}  # fmt: skip
        return self.safe_currency_structure({
            "id": self.safe_string(currency, "code"), "code": code, "name": self.safe_string(currency, "name"),
            "type": "crypto", "active": deposit or withdraw, "deposit": deposit, "withdraw": withdraw, "fee": fee,
            "precision": precision, "limits": limits, "networks": {network_code: network}, "info": currency,
        })  # fmt: skip

    def parse_trading_fee(self, market):
        symbol = self.parse_market(market)["symbol"]
        return {"info": market, "symbol": symbol, "maker": self.safe_number(market, "maker_fee"),
                "taker": self.safe_number(market, "taker_fee"), "percentage": True, "tierBased": False}  # fmt: skip

    def parse_ticker(self, ticker, market=None):
        market = self.safe_market(self.safe_string(ticker, "symbol"), market)
        last = self.safe_string(ticker, "last")
        return self.safe_ticker({
            "symbol": market["symbol"], "timestamp": None, "datetime": None,
            "high": self.safe_string(ticker, "high_24h"), "low": self.safe_string(ticker, "low_24h"),
            "bid": self.safe_string(ticker, "bid"), "bidVolume": None,
            "ask": self.safe_string(ticker, "ask"), "askVolume": None,
            "vwap": None, "open": self.safe_string(ticker, "open_24h"), "close": last, "last": last,
            "previousClose": None, "change": None, "percentage": None, "average": None,
            "baseVolume": self.safe_string(ticker, "volume_24h"),
            "quoteVolume": self.safe_string(ticker, "quote_volume_24h"),
            "info": ticker,
        }, market)  # fmt: skip

    def parse_trade(self, trade, market=None):
        """A public trade (`taker_side`) or one of the user's fills (`side`, `liquidity`, `fee`)."""
        market = self.safe_market(self.safe_string(trade, "symbol"), market)
        timestamp = self.parse8601(self.safe_string(trade, "time"))
        fee = None
        if "fee" in trade:
            fee = {"cost": self.safe_number(trade, "fee"),
                   "currency": self.safe_currency_code(self.safe_string(trade, "fee_currency"))}  # fmt: skip
        public = "taker_side" in trade
        return self.safe_trade({
            "id": self.safe_string(trade, "id"), "order": self.safe_string(trade, "order_id"),
            "timestamp": timestamp, "datetime": self.iso8601(timestamp), "symbol": market["symbol"], "type": None,
            "side": self.safe_string(trade, "taker_side" if public else "side"),
            "takerOrMaker": "taker" if public else self.safe_string(trade, "liquidity"),
            "price": self.safe_string(trade, "price"), "amount": self.safe_string(trade, "quantity"), "cost": None,
            "fee": fee, "info": trade,
        }, market)  # fmt: skip

    def parse_order(self, order, market=None):
        market = self.safe_market(self.safe_string(order, "symbol"), market)
        kind = self.safe_string(order, "type")
        timestamp = self.parse8601(self.safe_string(order, "created_at"))
        fee_cost = self.safe_number(order, "fee")  # ccxt wants a fee's cost as a number
        return self.safe_order({
            "id": self.safe_string(order, "id"), "clientOrderId": self.safe_string(order, "client_order_id"),
            "timestamp": timestamp, "datetime": self.iso8601(timestamp), "lastTradeTimestamp": None,
            "lastUpdateTimestamp": self.parse8601(self.safe_string(order, "updated_at")),
            "symbol": market["symbol"], "type": "market" if kind in ("market", "stop_market") else "limit",
            "timeInForce": self.safe_string_upper(order, "time_in_force"),
            "postOnly": self.safe_bool(order, "post_only"), "side": self.safe_string(order, "side"),
            "price": self.safe_string(order, "price"), "triggerPrice": self.safe_string(order, "stop_price"),
            "amount": self.safe_string(order, "quantity"), "filled": self.safe_string(order, "filled_quantity"),
            "cost": self.safe_string(order, "filled_quote_quantity"),
            "average": self.safe_string(order, "average_price"), "remaining": None,
            "status": self.safe_string(ORDER_STATUS, self.safe_string(order, "status")),
            "fee": None if fee_cost is None else {
                "cost": fee_cost, "currency": self.safe_currency_code(self.safe_string(order, "fee_currency"))},
            "trades": None, "info": order,
        }, market)  # fmt: skip

    def parse_balance(self, wallets):
        result = {"info": wallets}
        for wallet in wallets:
            account = self.account()
            account["free"] = self.safe_string(wallet, "available")
            account["used"] = self.safe_string(wallet, "locked")
            result[self.safe_currency_code(self.safe_string(wallet, "currency"))] = account
        return self.safe_balance(result)

    def parse_transaction(self, transfer, currency=None):
        """A deposit (`detected_at`) or a withdrawal (`created_at`, `fee`)."""
        code = self.safe_currency_code(self.safe_string(transfer, "currency"), currency)
        deposit = "detected_at" in transfer
        timestamp = self.parse8601(self.safe_string(transfer, "detected_at" if deposit else "created_at"))
        updated = self.parse8601(self.safe_string(transfer, "credited_at" if deposit else "updated_at"))
        return {
            "info": transfer, "id": self.safe_string(transfer, "id"), "txid": self.safe_string(transfer, "txid"),
            "timestamp": timestamp, "datetime": self.iso8601(timestamp), "network": self.network_id_to_code(code, code),
            "address": self.safe_string(transfer, "address"), "addressTo": self.safe_string(transfer, "address"),
            "addressFrom": None, "tag": None, "tagTo": None, "tagFrom": None,
            "type": "deposit" if deposit else "withdrawal", "amount": self.safe_number(transfer, "amount"),
            "currency": code, "status": self.safe_string(TRANSFER_STATUS, self.safe_string(transfer, "status")),
            "updated": updated if updated is not None else timestamp, "internal": False, "comment": None,
            "fee": {"cost": self.safe_number(transfer, "fee", 0), "currency": code},
        }  # fmt: skip

    def parse_ohlcv(self, candle, market=None):
        return [self.parse8601(candle[0]), self.safe_number(candle, 1), self.safe_number(candle, 2),
                self.safe_number(candle, 3), self.safe_number(candle, 4), self.safe_number(candle, 5)]  # fmt: skip

    def parse_deposit_address(self, answer, currency=None):
        code = self.safe_currency_code(self.safe_string(answer, "currency"), currency)
        return {"info": answer, "currency": code, "network": self.network_id_to_code(code, code),
                "address": self.safe_string(answer, "address"),
                "tag": None}  # fmt: skip

    # --- requests -----------------------------------------------------------------------------------

    def order_request(self, symbol, type, side, amount, price=None, params={}):  # noqa: B006 - ccxt's names
        """POST /orders' body from ccxt's arguments. `params`: `triggerPrice` (or `stopPrice`) makes a
        stop order, `timeInForce` (GTC, IOC, FOK; PO is post-only), `postOnly`, `clientOrderId`,
        `cost` (a market buy for that much quote currency), `selfTradePrevention`."""
        market = self.market(symbol)
        trigger = self.safe_string_2(params, "triggerPrice", "stopPrice")
        time_in_force = self.safe_string_upper(params, "timeInForce")
        post_only = self.safe_bool(params, "postOnly", time_in_force == "PO")
        cost = self.safe_string(params, "cost")
        client_order_id = self.safe_string_2(params, "clientOrderId", "client_order_id")
        self_trade = self.safe_string(params, "selfTradePrevention")
        rest = self.omit(params, ["triggerPrice", "stopPrice", "timeInForce", "postOnly", "clientOrderId",
                                  "client_order_id", "cost", "selfTradePrevention"])  # fmt: skip
        request = {"symbol": market["id"], "side": side, "type": ("stop_" if trigger is not None else "") + type}
        if cost is not None and type == "market" and side == "buy":
            request["quote_quantity"] = self.cost_to_precision(symbol, cost)
        else:
            request["quantity"] = self.amount_to_precision(symbol, amount)
        if type == "limit":
            request["price"] = self.price_to_precision(symbol, price)
        if trigger is not None:
            request["stop_price"] = self.price_to_precision(symbol, trigger)
        if time_in_force in ("GTC", "IOC", "FOK"):
            request["time_in_force"] = time_in_force.lower()
        if post_only:
            request["post_only"] = True
        if client_order_id is not None:
            request["client_order_id"] = client_order_id
        if self_trade is not None:
            request["self_trade_prevention"] = self_trade
        return self.extend(request, rest)

    def order_wait(self, params) -> dict:
        wait = self.safe_string(params, "wait", self.safe_string(self.options, "createOrderWait", "result"))
        return {"wait": wait}

    def page_size(self, since, limit) -> int:
        return PAGE_LIMIT if since is not None else min(limit or PAGE_LIMIT, PAGE_LIMIT)

    def next_request(self, page) -> dict | None:
        """The query of the page after `page` (the API's cursor pagination: `next` is its URL)."""
        link = self.safe_string(page, "next")
        if not link:
            return None
        return {key: values[-1] for key, values in parse_qs(urlsplit(link).query).items()}

    def read_enough(self, rows, time_key, since, limit) -> bool:
        """Lists come newest first: without `since`, the newest `limit`; with it, back past `since`."""
        if since is None:
            return limit is None or len(rows) >= limit
        return bool(rows) and self.parse8601(self.safe_string(rows[-1], time_key)) < since

    def newest(self, rows, since, limit):
        return rows if since is not None or limit is None else rows[:limit]

    def order_list_request(self, status, symbol=None, limit=None, since=None):
        request = {"status": status, "limit": limit}
        if since is not None:
            request["from"] = since  # created at or after (unix milliseconds)
        if symbol is not None:
            request["symbol"] = self.market_id(symbol)
        return request
