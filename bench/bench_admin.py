"""The admin's lists over tables of 1,000,000 rows: orders, trades and ledger entries (issue 23,
item 3: p99 under 300 ms per page), through the real web process.

Workload: a throwaway database loaded by INSERT ... SELECT generate_series (every constraint and
trigger in force: the ledger's balance check per statement, the deferred foreign keys checked at
commit) with 1,000,000 orders on three markets (BTC-USDT 60 %, ETH-USDT 25 %, ETH-BTC 15 %) of
1,000 users, 70 % filled, 20 % cancelled, 10 % open; 1,000,000 trades between those orders; and
1,000,000 ledger entries, the two legs of 500,000 balanced transactions between the USDT hot wallet
and the users' USDT accounts (each account's entries summing to zero, as its balance of 0 says);
then VACUUM ANALYZE, as autovacuum would leave a live table. For comparison, the COUNT(*) over each
table that Django's stock paginator runs on every page (median of three, in this process). A
superuser's session with a verified OTP device (a session row as the OTP login writes it) is sent
by wrk as a cookie.

For each list: the first page, page 100 (OFFSET 9,900) and a filtered first page (orders of one
status, cancelled: 200,000 rows; trades of one market, ETH-BTC: 150,000; entries of one system
account, the USDT hot wallet: 500,000), each a page of 100 rows. Page latency, what one member of
staff waits for: one connection (`wrk -t1 -c1`) for 8 s after a 2 s warm-up, p50 and p99 (the
target: p99 < 300 ms). Capacity: `wrk -t2 -c4` (a handful of staff at once, queueing on the two
cores), requests/s, p99, the rate as a share of the same run's floor (`GET /healthz` on the same
4 connections), the CPU the web pool and its PostgreSQL backends spent per page meanwhile (what
bounds the rate: two cores give 2,000 ms of CPU a second), and the busiest gunicorn worker's share of
the pool's CPU (a keep-alive connection stays with the worker that accepted it: at 100 % all four
landed on one worker, which then has one core for them). Any answer outside 2xx (a redirect to the
login page included) fails the benchmark.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time

import httpx

from bench.bench_entry import _wrk
from bench.common import ROOT, CpuMeter, Figure, WebProcess, in_throwaway_database

ORDERS = 1_000_000
TRADES = 1_000_000
ENTRIES = 1_000_000  # two per ledger transaction
USERS = 1000
CONNECTIONS = 4
WARMUP = 2
SECONDS = 8
MARKETS = (("BTC", "USDT"), ("ETH", "USDT"), ("ETH", "BTC"))


def run() -> list[Figure]:
    if shutil.which("wrk") is None:
        raise RuntimeError("bench_admin needs wrk: `make bench` installs it (Debian: apt-get install wrk)")
    return in_throwaway_database(_measure)


def _measure(settings_dict) -> list[Figure]:
    from tests.support import database_url

    started = time.perf_counter()
    seeded = _seed()
    figures = [Figure("admin seed: orders + trades + entries", ORDERS + TRADES + ENTRIES, "rows"),
               Figure("admin seed time", time.perf_counter() - started, "s")]  # fmt: skip
    print(f"  (bench_admin: loaded in {figures[1].value:.0f} s)", flush=True)
    figures += _stock_counts()
    cookie = _staff_session()
    pages = {
        "orders": ("/admin/orders/order/", "status__exact=cancelled"),
        "trades": ("/admin/trades/trade/", f"market__id__exact={seeded['eth_btc']}"),
        "entries": ("/admin/wallets/entry/", f"account={seeded['hot']}"),
    }
    # Production static files, as the benchmarks run the web process with DEBUG off (the admin's
    # pages name them): hashed, compressed, served by WhiteNoise.
    static_root = tempfile.mkdtemp(prefix="bench-static-")
    try:
        subprocess.run([sys.executable, "manage.py", "collectstatic", "--noinput", "-v0"], cwd=ROOT, check=True,
                       env={**os.environ, "STATIC_ROOT": static_root})  # fmt: skip
        figures += _pages(database_url(settings_dict), static_root, cookie, pages)
    finally:
        shutil.rmtree(static_root, ignore_errors=True)
    return figures


def _pages(database: str, static_root: str, cookie: str, pages: dict) -> list[Figure]:
    figures = []
    with WebProcess(DATABASE_URL=database, STATIC_ROOT=static_root) as web:
        url = f"http://127.0.0.1:{web.port}"
        meter = CpuMeter().add("web", web.proc.pid)
        _wrk(f"{url}/healthz", "healthz.lua", WARMUP, CONNECTIONS)
        floor = _wrk(f"{url}/healthz", "healthz.lua", SECONDS, CONNECTIONS)
        figures.append(Figure(f"wrk GET /healthz, {CONNECTIONS} conns (floor)", floor.rate, "req/s"))
        for name, (path, filtered) in pages.items():
            for label, query in (("first page", ""), ("page 100", "?p=100"), ("filtered", f"?{filtered}")):
                target = path + query
                _check(web, cookie, target)
                args = (cookie, target)
                _wrk(url, "admin.lua", WARMUP, 1, args, threads=1)
                alone = _wrk(url, "admin.lua", SECONDS, 1, args, threads=1)
                before = meter.reading()
                busy = _wrk(url, "admin.lua", SECONDS, CONNECTIONS, args)
                after = meter.reading()
                spent = CpuMeter.spent(before, after)
                workers = [seconds - before.get(key, 0.0) for key, seconds in after.items() if key[0] == "web"]
                figures += [
                    Figure(f"admin {name} {label}, 1 conn p50", alone.p50_ms, "ms"),
                    Figure(f"admin {name} {label}, 1 conn p99", alone.p99_ms, "ms"),
                    Figure(f"admin {name} {label}, {CONNECTIONS} conns", busy.rate, "req/s"),
                    Figure(f"admin {name} {label}, {CONNECTIONS} conns p99", busy.p99_ms, "ms"),
                    Figure(f"admin {name} {label}, {CONNECTIONS} conns / floor", 100 * busy.rate / floor.rate,
                           "% of floor"),
                    Figure(f"admin {name} {label}, web CPU per page", 1000 * spent.get("web", 0) / busy.requests,
                           "ms"),
                    Figure(f"admin {name} {label}, PostgreSQL CPU per page",
                           1000 * spent.get("PostgreSQL for web", 0) / busy.requests, "ms"),
                    # Which gunicorn worker did the work: keep-alive connections stay with the worker
                    # that accepted them, so 100 % says all 4 landed on one worker (one core).
                    Figure(f"admin {name} {label}, busiest web worker", 100 * max(workers) / max(sum(workers), 1e-9),
                           "% of web CPU"),
                ]  # fmt: skip
        # The dashboard (the admin's index: every role's panel for a superuser) beside those tables.
        _check(web, cookie, "/admin/", marker='id="dashboard"')
        _wrk(url, "admin.lua", WARMUP, 1, (cookie, "/admin/"), threads=1)
        alone = _wrk(url, "admin.lua", SECONDS, 1, (cookie, "/admin/"), threads=1)
        figures += [Figure("admin dashboard (superuser), 1 conn p50", alone.p50_ms, "ms"),
                    Figure("admin dashboard (superuser), 1 conn p99", alone.p99_ms, "ms")]  # fmt: skip
    return figures


def _stock_counts() -> list[Figure]:
    """What Django's stock paginator runs on each of these pages: COUNT(*) over the table (the
    median of three, after VACUUM: an index-only scan where the visibility map allows)."""
    from django.db import connection

    figures = []
    with connection.cursor() as cursor:
        for table in ("orders_order", "trades_trade", "wallets_entry"):
            times = []
            for _ in range(3):
                started = time.perf_counter()
                cursor.execute(f"SELECT count(*) FROM {table}")
                cursor.fetchone()
                times.append((time.perf_counter() - started) * 1000)
            figures.append(Figure(f"stock COUNT(*) over {table}", sorted(times)[1], "ms"))
    return figures


def _check(web: WebProcess, cookie: str, target: str, marker: str = "result_list") -> None:
    """One request before wrk's: the page answers, and a list shows a full page of rows."""
    response = httpx.get(f"http://127.0.0.1:{web.port}{target}", headers={"Cookie": cookie}, timeout=60)
    if response.status_code != 200 or marker not in response.text:
        web.log.seek(0)
        log = web.log.read().decode(errors="replace")[-3000:]
        raise RuntimeError(f"GET {target}: {response.status_code} {response.text[:300]}\n{log}")
    if marker != "result_list":
        return
    rows = response.text.split('id="result_list"', 1)[1].split("</table>", 1)[0].count("<tr")
    if rows < 101:  # the head's row and a page of 100
        raise RuntimeError(f"GET {target}: {rows - 1} rows")


def _staff_session() -> str:
    """The cookie of a superuser's session with a verified OTP device, as the OTP login leaves it."""
    from importlib import import_module

    from django.conf import settings
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django_otp import DEVICE_ID_SESSION_KEY
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from apps.accounts.models import User

    staff = User.objects.create_superuser("bench-admin", "bench-admin@bench.local", "bench-password-123")
    device = TOTPDevice.objects.create(user=staff, name="phone", confirmed=True)
    session = import_module(settings.SESSION_ENGINE).SessionStore()
    session[SESSION_KEY] = str(staff.pk)
    session[BACKEND_SESSION_KEY] = settings.AUTHENTICATION_BACKENDS[0]
    session[HASH_SESSION_KEY] = staff.get_session_auth_hash()
    session[DEVICE_ID_SESSION_KEY] = device.persistent_id
    session.save()
    return f"{settings.SESSION_COOKIE_NAME}={session.session_key}"


def _seed() -> dict:
    from decimal import Decimal

    from django.contrib.auth.hashers import make_password
    from django.db import connection, transaction

    from apps.accounts.models import User
    from apps.markets import services as market_services
    from apps.wallets import ledger
    from apps.wallets.models import Account, Currency

    for code, decimals in (("BTC", 8), ("USDT", 6), ("ETH", 8)):
        Currency.objects.create(code=code, name=code, decimals=decimals)
    markets = [market_services.create_market(base=b, quote=q, tick_size=Decimal("0.01"), lot_size=Decimal("0.0001"))
               for b, q in MARKETS]  # fmt: skip
    password = make_password("bench-password-123")
    users = User.objects.bulk_create(User(username=f"admin-{i}", email=f"admin{i}@bench.local", password=password)
                                     for i in range(USERS))  # fmt: skip
    u0 = min(u.pk for u in users)
    hot = ledger.system_account(Account.Kind.HOT, "USDT").pk
    accounts = Account.objects.bulk_create(Account(kind="user", user=u, currency_id="USDT") for u in users)
    a0 = min(a.pk for a in accounts)
    m = [x.pk for x in markets]
    span = 90 * 86400  # seconds of history
    # The market of row g: 60 % the first, 25 % the second, 15 % the third.
    market_of = f"(ARRAY[{m[0]}, {m[1]}, {m[2]}])[1 + (g % 20 >= 12)::int + (g % 20 >= 17)::int]"
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"""
            INSERT INTO orders_order (user_id, market_id, side, type, time_in_force, post_only, self_trade_prevention,
                price, quantity, client_order_id, filled_quantity, filled_quote, fee, status, reason, applied,
                triggered, created_at, updated_at)
            SELECT {u0} + g % {USERS}, {market_of}, CASE WHEN g % 2 = 0 THEN 'buy' ELSE 'sell' END, 'limit', 'GTC',
                false, 'cancel_resting', 100 + (g % 1000) * 0.01, 0.0001 * (1 + g % 500), '',
                CASE WHEN g % 10 < 7 THEN 0.0001 * (1 + g % 500) ELSE 0 END, 0, 0,
                CASE WHEN g % 10 < 7 THEN 'filled' WHEN g % 10 < 9 THEN 'cancelled' ELSE 'new' END, '', true, false,
                now() - make_interval(secs => ({ORDERS} - g) * {span / ORDERS}),
                now() - make_interval(secs => ({ORDERS} - g) * {span / ORDERS})
            FROM generate_series(0, {ORDERS - 1}) g ORDER BY g""")  # fmt: skip
        cursor.execute("SELECT min(id) FROM orders_order")
        o0 = cursor.fetchone()[0]
        # Trade g: between the orders 2k (a buy) and 2k + 1 (a sell), of two different users.
        cursor.execute(f"""
            INSERT INTO trades_trade (market_id, price, quantity, quote_quantity, taker_side, buy_order_id,
                sell_order_id, buyer_id, seller_id, buyer_fee, seller_fee, created_at)
            SELECT {market_of}, 100 + (g % 1000) * 0.01, 0.0001 * (1 + g % 500),
                (100 + (g % 1000) * 0.01) * 0.0001 * (1 + g % 500), CASE WHEN g % 3 = 0 THEN 'sell' ELSE 'buy' END,
                {o0} + 2 * (g % {ORDERS // 2}), {o0} + 2 * (g % {ORDERS // 2}) + 1,
                {u0} + g % {USERS}, {u0} + (g + 1) % {USERS}, 0, 0,
                now() - make_interval(secs => ({TRADES} - g) * {span / TRADES})
            FROM generate_series(0, {TRADES - 1}) g ORDER BY g""")  # fmt: skip
        transactions = ENTRIES // 2
        cursor.execute(f"""
            INSERT INTO wallets_transaction (kind, idempotency_key, reference_type, reference_id, memo, created_at)
            SELECT 'transfer', 'bench-admin:' || k, 'bench', k::text, '',
                now() - make_interval(secs => ({transactions} - k) * {span / transactions})
            FROM generate_series(0, {transactions - 1}) k ORDER BY k""")  # fmt: skip
        cursor.execute("SELECT min(id) FROM wallets_transaction WHERE reference_type = 'bench'")
        t0 = cursor.fetchone()[0]
        # Entry g: leg g % 2 of transaction k = g / 2, the hot wallet and user (k / 2) % USERS; k and k + 1
        # move the same amount there and back, so every account's entries sum to zero.
        cursor.execute(f"""
            INSERT INTO wallets_entry (transaction_id, account_id, currency_id, bucket, amount)
            SELECT {t0} + g / 2, CASE WHEN g % 2 = 0 THEN {hot} ELSE {a0} + (g / 4) % {USERS} END, 'USDT',
                'available', (1 + (g / 4) % 100) * (CASE WHEN g % 2 = 0 THEN -1 ELSE 1 END)
                    * (CASE WHEN (g / 2) % 2 = 0 THEN 1 ELSE -1 END)
            FROM generate_series(0, {ENTRIES - 1}) g ORDER BY g""")  # fmt: skip
    with connection.cursor() as cursor:
        for table in ("orders_order", "trades_trade", "wallets_transaction", "wallets_entry"):
            cursor.execute(f"VACUUM ANALYZE {table}")
    return {"eth_btc": m[2], "hot": hot}
