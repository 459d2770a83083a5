"""Trade history and portfolio endpoints on a table of 1,000,000 trades, through the real web process.

Workload: a throwaway database seeded by COPY with 1,000,000 trades over 90 days on BTC-USDT (60 %),
ETH-USDT (25 %) and ETH-BTC (15 %) between 1,001 users. One "whale" is a side of 20 % of them
(about 200,000 fills); the others have about 1,600 each. Ten ordinary users also have the ledger
transactions of all their fills (and USDT deposits), so their portfolio is computed from a real
history (and BTC and ETH deposits). Then, through the web pool (gunicorn, two workers; the client shares
its two cores; rate limits counting but never refusing), for the whale and an ordinary user. Page latency is
measured with one client sending 500 requests one after another (50 warm-up): what a user waits
for a page. Capacity is measured with 16 keep-alive connections (200 warm-up, 2,000 requests),
where queueing on the two cores dominates the latency:

- GET /trades: the first page (100 fills), one symbol, a one-day range, a page deep in the history
  (by cursor), and one order's fills;
- GET /trades/export.csv: a whole day of the whale's fills, streamed (rows per second);
- GET /portfolio: the first read of a user with 1,600 fills not yet applied (catch-up, ms), then
  the steady state (positions current: the cursor query finds nothing new, then the valuation);
- GET /portfolio/history: a year of daily snapshots in one page.

The target of the issue: p99 under 50 ms per page.
"""

from __future__ import annotations

import datetime as dt
import json
import random
import time
from decimal import ROUND_HALF_UP, Decimal

import httpx

from bench.common import Figure, WebProcess, in_throwaway_database, measure_get

TRADES = 1_000_000
USERS = 1000
PORTFOLIO_USERS = 10
DAYS = 90
UNLIMITED = {tier: {"orders": 10**9, "private": 10**9, "public": 10**9}
             for tier in ("anonymous", "basic", "pro", "institutional")}  # fmt: skip
# symbol, base, quote, share of the trades, price range in ticks, tick, lot
MARKETS = [("BTC-USDT", "BTC", "USDT", 0.60, (9_000_000, 11_000_000), Decimal("0.01"), Decimal("0.0001")),
           ("ETH-USDT", "ETH", "USDT", 0.25, (300_000, 400_000), Decimal("0.01"), Decimal("0.0001")),
           ("ETH-BTC", "ETH", "BTC", 0.15, (300, 400), Decimal("0.0001"), Decimal("0.0001"))]  # fmt: skip


def run() -> list[Figure]:
    return in_throwaway_database(_measure)


def _measure(settings_dict: dict) -> list[Figure]:
    from tests.support import database_url

    started = time.perf_counter()
    seeded = _seed()
    figures = [Figure("history seed: trades (COPY)", TRADES, "rows"),
               Figure("history seed time", time.perf_counter() - started, "s")]  # fmt: skip
    whale, ordinary, portfolio_users = seeded["whale"], seeded["ordinary"], seeded["portfolio_users"]
    with WebProcess(DATABASE_URL=database_url(settings_dict), RATE_LIMITS_JSON=json.dumps(UNLIMITED)) as web:
        base = f"http://127.0.0.1:{web.port}/api/v1"
        tokens = {user.pk: _token(user.username) for user in [whale, ordinary, *portfolio_users]}

        def auth(user):
            header = {"Authorization": f"Bearer {tokens[user.pk]}"}
            return lambda _path: header

        day = (seeded["end"] - dt.timedelta(days=DAYS // 2)).date()
        for label, user in (("whale", whale), ("user", ordinary)):
            deep = _cursor_deep()
            paths = {
                "first page": "/api/v1/trades?limit=100",
                "symbol ETH-BTC": "/api/v1/trades?limit=100&symbol=ETH-BTC",
                "one day": f"/api/v1/trades?limit=100&from={day}T00:00:00Z&to={day}T23:59:59Z",
                "deep cursor": f"/api/v1/trades?limit=100&cursor={deep}",
                "one order": f"/api/v1/trades?limit=100&order_id={seeded['orders'][user.pk]}",
            }
            for name, path in paths.items():
                # Page latency: one client, one request after another (what one user waits for a page).
                figures += [f for f in measure_get(web.port, path, f"GET /trades {name} ({label})", total=500,
                                                   warmup=50, headers=auth(user), concurrency=1)
                            if "throughput" not in f.name]  # fmt: skip
            # Capacity: the first page from 16 connections at once (queueing on two cores included).
            figures += measure_get(web.port, paths["first page"], f"GET /trades first page ({label}), 16 connections",
                                   headers=auth(user))  # fmt: skip
        # The CSV export: one whole day of the whale's fills, then all of them.
        with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {tokens[whale.pk]}"}, timeout=300) as c:
            for name, query in (("one day", f"?from={day}T00:00:00Z&to={day}T23:59:59Z"), ("all", "")):
                started = time.perf_counter()
                with c.stream("GET", f"/trades/export.csv{query}") as response:
                    rows = sum(chunk.count(b"\n") for chunk in response.iter_raw()) - 1
                elapsed = time.perf_counter() - started
                figures += [Figure(f"CSV export, {name} of the whale: rows", rows, "rows"),
                            Figure(f"CSV export, {name} of the whale: rate", rows / elapsed, "rows/s")]  # fmt: skip
        # Portfolio: the first read applies every fill of the user's history.
        catch_up = []
        for user in portfolio_users:
            started = time.perf_counter()
            response = httpx.get(f"{base}/portfolio", headers={"Authorization": f"Bearer {tokens[user.pk]}"})
            catch_up.append((time.perf_counter() - started) * 1000)
            assert response.status_code == 200, response.text
        figures.append(Figure(f"GET /portfolio first read ({seeded['portfolio_fills']:,} fills)",
                              sorted(catch_up)[len(catch_up) // 2], "ms (median)"))  # fmt: skip
        user = portfolio_users[0]
        figures += [
            f
            for f in measure_get(
                web.port, "/api/v1/portfolio", "GET /portfolio", total=500, warmup=50, headers=auth(user), concurrency=1
            )
            if "throughput" not in f.name
        ]
        figures += measure_get(web.port, "/api/v1/portfolio", "GET /portfolio, 16 connections", headers=auth(user))
        figures += [
            f
            for f in measure_get(
                web.port,
                "/api/v1/portfolio/history?limit=365",
                "GET /portfolio/history",
                total=500,
                warmup=50,
                headers=auth(user),
                concurrency=1,
            )
            if "throughput" not in f.name
        ]
    return figures


def _token(username: str) -> str:
    """A JWT from the login service (the login endpoint's own rate limit would refuse a dozen logins)."""
    from apps.accounts import services as account_services

    return account_services.login(username=username, password="bench-password-123", otp_code=None).access


def _cursor_deep() -> str:
    """A cursor two thirds of the way back in time (what `next` holds after paging that far)."""
    from apps.trades.models import Trade
    from apps.trades.selectors import Position

    trade = Trade.objects.order_by("id")[TRADES // 3]
    return Position(trade.created_at, trade.pk).encode()


def _seed() -> dict:
    from django.contrib.auth.hashers import make_password
    from django.db import connection

    from apps.accounts.models import User
    from apps.markets import services as market_services
    from apps.orders.models import Order
    from apps.portfolio.models import Snapshot
    from apps.wallets.models import Account, Currency

    rng = random.Random(9)
    for code, decimals in (("BTC", 8), ("USDT", 6), ("ETH", 8)):
        Currency.objects.create(code=code, name=code, decimals=decimals)
    markets = {}
    for symbol, base, quote, _share, _range, tick, lot in MARKETS:
        markets[symbol] = market_services.create_market(base=base, quote=quote, tick_size=tick, lot_size=lot)
    password = make_password("bench-password-123")
    users = User.objects.bulk_create(
        User(username=f"history-{i}", email=f"history{i}@bench.local", password=password, tier="pro")
        for i in range(USERS + 1)
    )  # fmt: skip
    whale, ordinary, portfolio_users = users[0], users[1], users[2 : 2 + PORTFOLIO_USERS]
    orders = Order.objects.bulk_create(
        Order(user=u, market=m, side=side, type="limit", price=Decimal(1), quantity=Decimal(10**9), status="cancelled",
              applied=True)
        for u in users for m in markets.values() for side in ("buy", "sell")
    )  # fmt: skip
    order_of = {(o.user_id, o.market_id, o.side): o.pk for o in orders}
    accounts = Account.objects.bulk_create(
        Account(kind="user", user=u, currency_id=code) for u in users for code in ("BTC", "USDT", "ETH")
    )
    account_of = {(a.user_id, a.currency_id): a.pk for a in accounts}
    fee_account = {a.currency_id: a.pk for a in Account.objects.filter(kind="fees")}
    hot = {code: Account.objects.get_or_create(kind="hot", currency_id=code)[0].pk for code in ("BTC", "USDT", "ETH")}
    tracked = {u.pk for u in portfolio_users}

    end = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)
    start = end - dt.timedelta(days=DAYS)
    step = (end - start) / TRADES
    ids = [u.pk for u in users]
    weights = [m[3] for m in MARKETS]
    with connection.cursor() as cursor:
        cursor.execute("SELECT nextval('trades_trade_id_seq')")
        first_id = cursor.fetchone()[0] + 1
        cursor.execute("SELECT setval('trades_trade_id_seq', %s)", [first_id + TRADES])
        postings = []  # (trade id, time, entries) of trades with a tracked side
        with cursor.copy("COPY trades_trade (id, market_id, price, quantity, quote_quantity, taker_side, "
                         "buy_order_id, sell_order_id, buyer_id, seller_id, buyer_fee, seller_fee, created_at) "
                         "FROM STDIN") as copy:  # fmt: skip
            for i in range(TRADES):
                symbol, base_c, quote_c, _share, (low, high), tick, lot = rng.choices(MARKETS, weights)[0]
                market = markets[symbol]
                buyer = whale.pk if rng.random() < 0.1 else rng.choice(ids)
                seller = whale.pk if rng.random() < 0.1 and buyer != whale.pk else rng.choice(ids)
                while seller == buyer:
                    seller = rng.choice(ids)
                price = tick * rng.randint(low, high)
                qty = lot * rng.randint(1, 5000)
                notional = price * qty
                bfee = (qty * Decimal("0.001")).quantize(Decimal("1e-8"), ROUND_HALF_UP)
                sfee = (notional * Decimal("0.001")).quantize(Decimal("1e-8" if quote_c == "BTC" else "1e-6"),
                                                               ROUND_HALF_UP)  # fmt: skip
                when = start + step * i
                trade_id = first_id + i
                copy.write_row((trade_id, market.pk, price, qty, notional, rng.choice(("buy", "sell")),
                                order_of[(buyer, market.pk, "buy")], order_of[(seller, market.pk, "sell")], buyer,
                                seller, bfee, sfee, when))  # fmt: skip
                if buyer in tracked or seller in tracked:
                    legs = [(account_of[(buyer, quote_c)], quote_c, -notional),
                            (account_of[(seller, quote_c)], quote_c, notional - sfee),
                            (fee_account[quote_c], quote_c, sfee),
                            (account_of[(seller, base_c)], base_c, -qty),
                            (account_of[(buyer, base_c)], base_c, qty - bfee),
                            (fee_account[base_c], base_c, bfee)]  # fmt: skip
                    postings.append(("trade", f"trade:{trade_id}", "trade", trade_id, when, legs))
        for user in portfolio_users:
            for code, amount in (("USDT", Decimal(10**7)), ("BTC", Decimal(100)), ("ETH", Decimal(1000))):
                postings.insert(
                    0,
                    (
                        "deposit",
                        f"seed:{user.pk}:{code}",
                        "deposit",
                        user.pk,
                        start,
                        [(hot[code], code, -amount), (account_of[(user.pk, code)], code, amount)],
                    ),
                )
        cursor.execute("SELECT nextval('wallets_transaction_id_seq') FROM generate_series(1, %s)", [len(postings)])
        txn_ids = [row[0] for row in cursor.fetchall()]
        with cursor.copy("COPY wallets_transaction (id, kind, idempotency_key, reference_type, reference_id, memo, "
                         "created_at) FROM STDIN") as copy:  # fmt: skip
            for txn_id, (kind, key, ref_type, ref_id, when, _legs) in zip(txn_ids, postings, strict=True):
                copy.write_row((txn_id, kind, key, ref_type, str(ref_id), "bench", when))
        with cursor.copy(
            "COPY wallets_entry (transaction_id, account_id, currency_id, bucket, amount) FROM STDIN"
        ) as c:
            for txn_id, (*_head, legs) in zip(txn_ids, postings, strict=True):
                for account, code, amount in legs:
                    if amount:
                        c.write_row((txn_id, account, code, "available", amount))
        # The steady state of a live table: statistics current, visibility map set (autovacuum would
        # otherwise run during the measurement).
        for table in ("trades_trade", "wallets_entry", "wallets_transaction", "orders_order"):
            cursor.execute(f"VACUUM ANALYZE {table}")
    # A year of daily snapshots for the first portfolio user.
    today = end.date()
    Snapshot.objects.bulk_create(
        Snapshot(user=portfolio_users[0], date=today - dt.timedelta(days=d), valuation_currency_id="USDT",
                 total_value=Decimal(1000 + d), total_cost=Decimal(900), realized_pnl=Decimal(0),
                 unrealized_pnl=Decimal(100 + d), taken_at=end)
        for d in range(1, 366)
    )  # fmt: skip
    tracked_fills = sum(1 for p in postings if p[0] == "trade")
    return {"whale": whale, "ordinary": ordinary, "portfolio_users": portfolio_users, "end": end,
            "orders": {u.pk: order_of[(u.pk, markets["BTC-USDT"].pk, "buy")] for u in (whale, ordinary)},
            "portfolio_fills": tracked_fills // PORTFOLIO_USERS}  # fmt: skip
