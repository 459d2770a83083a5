"""The durable matching pipeline: Redis stream -> engine -> one PostgreSQL transaction per batch.

Workload (in a throwaway database, seeded random): 50 funded traders on BTC-USDT (tick 0.01, lot
0.0001); 40,000 accepted limit orders (prices clustered around the mid, 10 % IOC, quantities 1-100
lots) and 8,000 cancels of some of them, written straight into PostgreSQL with their holds (as
place_order leaves them) and pre-filled into the market's stream. Then, timed:

1. the pipeline: the real matcher (apps.matching.worker, batches of MATCHER_BATCH_SIZE) reads the
   stream until every command is applied, settled, acknowledged and published;
2. the raw ceiling: COPY of the same rows the pipeline wrote (trades, ledger transactions and
   entries, the final order and hold rows) into indexed copies of their tables, one transaction;
3. the naive baseline: the same engine, but each command settled in its own ORM transaction
   (ledger.post per posting, a save per changed order and hold) on 3,000 fresh commands.

verify_ledger runs after each part and must be clean.
"""

from __future__ import annotations

import random
import time
from decimal import Decimal

from bench.common import Figure

ORDERS = 40_000
CANCELS = 8_000
NAIVE_COMMANDS = 1_500
TRADERS = 50


def run() -> list[Figure]:
    from django.db import connection

    from apps.core.redis import get_redis
    from apps.markets import streams
    from apps.markets.book import cache_key as book_cache_key

    old_name = connection.creation.create_test_db(verbosity=0, autoclobber=True, keepdb=False)
    try:
        return _measure()
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)
        client = get_redis()
        client.delete(*(streams.stream_key(s) for s in ("BTC-USDT", "ETH-USDT", "SOL-USDT")))
        client.delete(*(book_cache_key(s) for s in ("BTC-USDT", "ETH-USDT", "SOL-USDT")))


def _setup(symbol: str, base: str, quote: str, users, rng: random.Random, orders: int, cancels: int, **controls):
    """Accepted orders with their holds, written in bulk, and their commands in the stream."""
    from django.db import connection, transaction
    from django.utils import timezone

    from apps.core.redis import get_redis
    from apps.markets import services as market_services
    from apps.markets import streams
    from apps.wallets import ledger

    market = market_services.create_market(base=base, quote=quote, tick_size=Decimal("0.01"),
                                           lot_size=Decimal("0.0001"), min_notional=Decimal(0),
                                           **controls)  # fmt: skip
    accounts = {(u.pk, c): ledger.user_account(u, c).pk for u in users for c in (base, quote)}
    now = timezone.now()
    with connection.cursor() as cursor:
        cursor.execute("SELECT nextval('orders_order_id_seq') FROM generate_series(1, %s)", [orders])
        order_ids = [r[0] for r in cursor.fetchall()]
        cursor.execute("SELECT nextval('wallets_hold_id_seq') FROM generate_series(1, %s)", [orders])
        hold_ids = [r[0] for r in cursor.fetchall()]
        cursor.execute("SELECT nextval('wallets_transaction_id_seq') FROM generate_series(1, %s)", [orders])
        txn_ids = [r[0] for r in cursor.fetchall()]
    rows, holds, entries, txns, deltas = [], [], [], [], {}
    mid = 100_000  # ticks: 1,000.00
    for oid, hid, tid in zip(order_ids, hold_ids, txn_ids, strict=True):
        user = rng.choice(users)
        side = rng.choice(("buy", "sell"))
        ticks = mid + int(rng.gauss(0, 15)) + (8 if side == "sell" else -8)
        lots = rng.randint(1, 100)
        price, qty = Decimal(ticks) / 100, Decimal(lots) / 10_000
        tif = "ioc" if rng.random() < 0.1 else "gtc"
        amount = price * qty if side == "buy" else qty
        account = accounts[user.pk, quote if side == "buy" else base]
        rows.append((oid, user.pk, market.pk, side, "limit", tif, False, "cancel_resting", price, qty, "", 0, 0, 0,
                     "new", "", hid, False, False, now, now))  # fmt: skip
        holds.append((hid, account, "order", str(oid), amount, "active", now, now))
        txns.append((tid, "hold", f"hold:order:{oid}:{account}", "order", str(oid), "", now))
        entries += [(tid, account, quote if side == "buy" else base, "available", -amount),
                    (tid, account, quote if side == "buy" else base, "locked", amount)]  # fmt: skip
        d = deltas.setdefault(account, [Decimal(0), Decimal(0)])
        d[0] -= amount
        d[1] += amount
    with transaction.atomic(), connection.cursor() as cursor:
        with cursor.copy("COPY wallets_transaction (id, kind, idempotency_key, reference_type, reference_id, memo, "
                         "created_at) FROM STDIN") as copy:  # fmt: skip
            for row in txns:
                copy.write_row(row)
        with cursor.copy(
            "COPY wallets_entry (transaction_id, account_id, currency_id, bucket, amount) FROM STDIN"
        ) as c:
            for row in entries:
                c.write_row(row)
        with cursor.copy("COPY wallets_hold (id, account_id, owner_type, owner_id, amount, status, created_at, "
                         "updated_at) FROM STDIN") as copy:  # fmt: skip
            for row in holds:
                copy.write_row(row)
        columns = (
            "id, user_id, market_id, side, type, time_in_force, post_only, self_trade_prevention, price, "
            "quantity, client_order_id, filled_quantity, filled_quote, fee, status, reason, hold_id, applied, "
            "triggered, created_at, updated_at"
        )
        with cursor.copy(f"COPY orders_order ({columns}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        ids = sorted(deltas)
        cursor.execute(
            "UPDATE wallets_account a SET available = a.available + d.da, locked = a.locked + d.dl "
            "FROM unnest(%s::bigint[], %s::numeric[], %s::numeric[]) AS d(id, da, dl) WHERE a.id = d.id",
            [ids, [deltas[i][0] for i in ids], [deltas[i][1] for i in ids]],
        )
        cancelled = rng.sample(order_ids, cancels)
        cursor.execute("UPDATE orders_order SET cancel_requested_at = now() WHERE id = ANY(%s)", [cancelled])
    # Stream order: every order's `new`, with each cancel some way after its order.
    commands = [("new", oid) for oid in order_ids]
    position = {oid: i for i, oid in enumerate(order_ids)}
    for oid in sorted(cancelled, key=position.get, reverse=True):
        at = min(len(commands), position[oid] + 1 + rng.randint(0, 400))
        commands.insert(at, ("cancel", oid))
    client = get_redis()
    client.delete(streams.stream_key(symbol))
    for start in range(0, len(commands), 5000):
        streams.send_many(symbol, commands[start : start + 5000], client=client)
    return market, len(commands)


def _fund(users, base: str, quote: str) -> None:
    from apps.wallets import ledger
    from apps.wallets.models import Account

    for user in users:
        for code, amount in ((base, Decimal(10_000)), (quote, Decimal(100_000_000))):
            ledger.post(kind="deposit", idempotency_key=f"bench-fund:{user.pk}:{code}", legs=[
                ledger.Leg(ledger.system_account(Account.Kind.HOT, code), -amount),
                ledger.Leg(ledger.user_account(user, code), amount)])  # fmt: skip


def _check_ledger(where: str) -> None:
    from apps.wallets.verification import verify_ledger

    violations = verify_ledger()
    if violations:
        raise RuntimeError(f"ledger violations after {where}: {violations[:3]}")


def _measure() -> list[Figure]:
    from apps.accounts.models import User
    from apps.matching.testing import drain, matcher
    from apps.wallets.models import Currency

    for code, decimals in (("BTC", 8), ("USDT", 6), ("ETH", 18)):
        Currency.objects.create(code=code, name=code, decimals=decimals)
    users = [User.objects.create_user(f"bench-trader-{i}", f"t{i}@bench.local") for i in range(TRADERS)]
    _fund(users, "BTC", "USDT")
    _fund(users, "ETH", "USDT")
    rng = random.Random(42)
    market, commands = _setup("BTC-USDT", "BTC", "USDT", users, rng, ORDERS, CANCELS)

    from apps.trades.models import Trade

    with matcher(["BTC-USDT"]) as m:
        m.step()  # discovery, recovery, consumer group: not part of the steady state
        started = time.perf_counter()
        drain(m, max_steps=100_000)
        elapsed = time.perf_counter() - started
    pipeline = commands / elapsed
    fills = Trade.objects.filter(market=market).count()
    _check_ledger("the pipeline")
    copy_seconds = _raw_copy(market)
    ceiling = commands / copy_seconds

    # The same workload again on another market with the matcher's risk controls on: a collar, and a
    # circuit breaker that watches every trade (5 % in 60 s: this flow never trips it).
    Currency.objects.create(code="SOL", name="SOL", decimals=8)
    _fund(users, "SOL", "USDT")
    _controlled, same = _setup("SOL-USDT", "SOL", "USDT", users, random.Random(42), ORDERS, CANCELS,
                              market_order_collar=Decimal("0.05"), breaker_move=Decimal("0.05"))  # fmt: skip
    with matcher(["SOL-USDT"]) as m:
        m.step()
        started = time.perf_counter()
        drain(m, max_steps=100_000)
        controlled_rate = same / (time.perf_counter() - started)
    _check_ledger("the pipeline with risk controls")

    naive_market, naive_commands = _setup("ETH-USDT", "ETH", "USDT", users, random.Random(43), NAIVE_COMMANDS,
                                          NAIVE_COMMANDS // 5)  # fmt: skip
    naive_seconds = _naive(naive_market)
    naive = naive_commands / naive_seconds
    _check_ledger("the naive baseline")
    return [
        Figure(f"pipeline: {commands:,} commands, {fills:,} fills", pipeline, "commands/s"),
        Figure("pipeline: fills settled", fills / elapsed, "fills/s"),
        Figure("raw COPY of the same rows (ceiling)", ceiling, "commands/s"),
        Figure("pipeline / raw COPY ceiling", 100 * pipeline / ceiling, "% of the ceiling"),
        Figure("naive: one ORM transaction per command", naive, "commands/s"),
        Figure("pipeline speed-up over naive", pipeline / naive, "x"),
        Figure("pipeline with collar and circuit breaker on", controlled_rate, "commands/s"),
        Figure("risk controls' cost in the matcher", 100 * (1 - controlled_rate / pipeline), "% of throughput"),
    ]


def _raw_copy(market) -> float:
    """Seconds to COPY the rows the pipeline wrote into indexed copies of their tables and commit."""
    from django.db import connection, transaction

    tables = {
        "trades_trade": f"SELECT * FROM trades_trade WHERE market_id = {market.pk}",
        "wallets_transaction": "SELECT * FROM wallets_transaction WHERE kind IN ('trade', 'release')",
        "wallets_entry": "SELECT e.* FROM wallets_entry e JOIN wallets_transaction t ON t.id = e.transaction_id "
        "WHERE t.kind IN ('trade', 'release')",
        "orders_order": f"SELECT * FROM orders_order WHERE market_id = {market.pk}",
        "wallets_hold": "SELECT h.* FROM wallets_hold h JOIN orders_order o ON o.hold_id = h.id "
        f"WHERE o.market_id = {market.pk}",
    }
    data = {}
    with connection.cursor() as cursor:
        for table, query in tables.items():
            cursor.execute(query)
            data[table] = cursor.fetchall()
            cursor.execute(f"DROP TABLE IF EXISTS bench_{table}")
            cursor.execute(f"CREATE TABLE bench_{table} (LIKE {table} INCLUDING DEFAULTS INCLUDING INDEXES)")
    started = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cursor:
        for table, rows in data.items():
            with cursor.copy(f"COPY bench_{table} FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
    seconds = time.perf_counter() - started
    with connection.cursor() as cursor:
        for table in tables:
            cursor.execute(f"DROP TABLE bench_{table}")
    return seconds


def _naive(market) -> float:
    """The same engine and the same money rules, but each command in its own ORM transaction."""
    from django.db import transaction
    from django.utils import timezone

    from apps.core.redis import get_redis
    from apps.markets import streams
    from apps.matching import grid
    from apps.matching.recovery import order_rows
    from apps.matching.settlement import Batch
    from apps.matching.settlement import _hold_status as hold_status
    from apps.matching.worker import MarketRunner
    from apps.orders.models import Order
    from apps.trades.models import Trade
    from apps.wallets import ledger
    from apps.wallets.models import Account, Hold

    client = get_redis()
    runner = MarketRunner(market, client)
    entries = client.xrange(streams.stream_key(market.symbol))
    account_cache = {a.pk: a for a in Account.objects.select_related("currency")}
    started = time.perf_counter()
    for _entry_id, fields in entries:
        with transaction.atomic():
            order_id = int(fields["id"])
            batch = Batch(ctx=runner.ctx, now=timezone.now())
            fills: list = []
            if fields["op"] == "new":
                (row,) = order_rows("o.id = %s", [order_id])
                runner.load_accounts([row])
                ticket = runner.ticket(row)
                batch.touch(ticket)
                if row.cancel_requested_at is not None:
                    batch.finish(ticket, "cancelled", "cancelled")
                else:
                    runner.engine.submit(grid.engine_order(row, ticket, runner.ctx))
            elif not runner.engine.cancel(order_id):
                continue
            runner._settle_events(runner.engine.drain_events(), batch, fills)
            trade_ids = []
            for buyer, seller, taker_side, price, qty, notional, bfee, sfee, _ in batch.trades:
                trade_ids.append(Trade.objects.create(
                    market=market, price=price, quantity=qty, quote_quantity=notional, taker_side=taker_side,
                    buy_order_id=buyer.id, sell_order_id=seller.id, buyer_id=buyer.user_id,
                    seller_id=seller.user_id, buyer_fee=bfee, seller_fee=sfee, created_at=batch.now).pk)  # fmt: skip
            for kind, key, ref, legs in batch.postings:
                if key == "trade":
                    key, ref = f"trade:{trade_ids[ref]}", trade_ids[ref]
                legs = [ledger.Leg(account_cache[a], amount, bucket) for a, _c, bucket, amount in legs]
                ledger.post(kind=kind, idempotency_key=key, reference=("trade" if kind == "trade" else "order", ref),
                            legs=legs)  # fmt: skip
            for t in batch.dirty.values():
                Hold.objects.filter(pk=t.hold_id).update(amount=t.hold_left, status=hold_status(t))
                Order.objects.filter(pk=t.id).update(
                    status=t.status, reason=t.reason, filled_quantity=t.filled_quantity, filled_quote=t.filled_quote,
                    fee=t.fee, priority=t.priority, triggered=t.triggered, applied=True)  # fmt: skip
    return time.perf_counter() - started
