"""The trading page in Debian's Chromium (headless, Playwright): how fast it is live, and how long an
order takes from placement to the screen.

Workload (throwaway database): the Procfile's web pool (the page, REST), stream process (the page's
WebSocket, which the page is told of) and matcher, the BTC-USDT market with 200
resting asks. Ready: a fresh browser context (no cache) opens /trade/BTC-USDT; the time until the
book is drawn from a verified snapshot and the stream is live, median of LOADS. Order to screen:
ORDERS limit buys placed one at a time through `place_order` (the service the REST view calls), each
a new best bid; the time from just before the call to the moment the page's DOM has the new level
(a MutationObserver in the page, wall clocks of the same machine), p50 and p99. That path is the
whole pipeline: Redis stream, matcher batch and commit, the channel layer, the stream process's feed,
the WebSocket, the page's checksum and its next animation frame. Also the page's own JavaScript and
CSS, gzipped (the charting library counted apart). Browser, web, matcher, PostgreSQL and Redis share
the two cores. Skipped (no figures) when Chromium is not installed.
"""

from __future__ import annotations

import gzip
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from decimal import Decimal

from bench.bench_orders import UNLIMITED, MatcherProcess
from bench.common import ROOT, Figure, StreamProcess, WebProcess, btc_usdt_traders, in_throwaway_database, percentile

LOADS = 5
ORDERS = 60

WATCH = """() => {
    window.benchSeen = {};
    new MutationObserver(() => {
        for (const row of document.querySelectorAll('#book-bids tr[data-price]')) {
            window.benchSeen[row.dataset.price] ??= Date.now();
        }
    }).observe(document.getElementById('book-bids'), { childList: true });
}"""


def run() -> list[Figure]:
    from tests.browser.conftest import chromium_path

    if chromium_path() is None:
        print("  bench_trading_page: no Chromium (`make browser` installs it); skipped")
        return []
    return in_throwaway_database(_measure)


def _assets_gzipped() -> tuple[float, float]:
    own = [*(ROOT / "static/js").glob("*.js"), ROOT / "static/css/trade.css", ROOT / "static/css/site.css"]
    vendored = list((ROOT / "static/vendor").rglob("*.mjs"))
    size = lambda paths: sum(len(gzip.compress(p.read_bytes(), 9)) for p in paths) / 1024  # noqa: E731
    return size(own), size(vendored)


def _measure(settings_dict) -> list[Figure]:
    from django.db import connections
    from playwright.sync_api import sync_playwright

    from apps.core.redis import get_redis
    from apps.orders.services import OrderRequest, place_order
    from tests.support import database_url

    buyer, seller = btc_usdt_traders("bench-page", 2)
    get_redis().delete("exchange:book:BTC-USDT", "exchange:orders:BTC-USDT")
    env = {**os.environ, "DATABASE_URL": database_url(settings_dict), "RATE_LIMITS_JSON": json.dumps(UNLIMITED)}
    # Production static files, as the benchmarks run the web process with DEBUG off: hashed, compressed,
    # served by WhiteNoise.
    static_root = tempfile.mkdtemp(prefix="bench-static-")
    subprocess.run([sys.executable, "manage.py", "collectstatic", "--noinput", "-v0"], cwd=ROOT, check=True,
                   env={**env, "STATIC_ROOT": static_root})  # fmt: skip
    matcher = MatcherProcess(env)
    # Playwright's sync API keeps an event loop running in this thread; the ORM calls here are plain
    # synchronous ones (as in tests/browser).
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with StreamProcess(DATABASE_URL=env["DATABASE_URL"], RATE_LIMITS_JSON=env["RATE_LIMITS_JSON"]) as stream, \
                WebProcess(DATABASE_URL=env["DATABASE_URL"], RATE_LIMITS_JSON=env["RATE_LIMITS_JSON"],
                           STATIC_ROOT=static_root, STREAM_PORT=str(stream.port)) as web, \
                sync_playwright() as playwright:  # fmt: skip
            from tests.browser.conftest import chromium_path

            for i in range(200):
                place_order(user=seller, request=OrderRequest(symbol="BTC-USDT", side="sell", type="limit",
                            price=Decimal(200) + Decimal(i), quantity=Decimal("0.0100")))  # fmt: skip
            browser = playwright.chromium.launch(executable_path=chromium_path(), args=["--no-sandbox"])
            url = f"http://127.0.0.1:{web.port}/trade/BTC-USDT"
            ready = []
            for _ in range(LOADS):
                context = browser.new_context()
                page = context.new_page()
                started = time.perf_counter()
                page.goto(url)
                page.wait_for_selector("#book[data-checksum='verified'] #book-asks tr[data-price='200.00']")
                page.wait_for_selector("#connection[data-state='open']")
                ready.append((time.perf_counter() - started) * 1000)
                context.close()

            # The page's Content-Security-Policy forbids evaluating strings, which Playwright's polling uses.
            page = browser.new_context(bypass_csp=True).new_page()
            page.goto(url)
            page.wait_for_selector("#book[data-checksum='verified'] #book-asks tr[data-price='200.00']")
            page.evaluate(WATCH)
            latencies = []
            for i in range(ORDERS):
                price = Decimal("100.00") + Decimal(i) / 100
                placed_at = time.time() * 1000
                place_order(user=buyer, request=OrderRequest(symbol="BTC-USDT", side="buy", type="limit",
                            price=price, quantity=Decimal("0.0100")))  # fmt: skip
                key = f"{price:.2f}"
                page.wait_for_function(f"window.benchSeen['{key}'] !== undefined", timeout=15_000)
                latencies.append(page.evaluate(f"window.benchSeen['{key}']") - placed_at)
            browser.close()
            # With Playwright's loop running, Django kept this code's connection apart from the
            # thread's usual one: close it here, or the throwaway database could not be dropped.
            connections.close_all()
    finally:
        os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        matcher.stop()
        shutil.rmtree(static_root, ignore_errors=True)
    own, vendored = _assets_gzipped()
    return [
        Figure("trading page: load to live book (median)", sorted(ready)[len(ready) // 2], "ms"),
        Figure("trading page: order to screen p50", percentile(latencies, 50), "ms"),
        Figure("trading page: order to screen p99", percentile(latencies, 99), "ms"),
        Figure("trading page: own JS + CSS, gzipped", own, "KiB"),
        Figure("trading page: charting library, gzipped", vendored, "KiB"),
    ]
