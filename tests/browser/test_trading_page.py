"""The trading page in a real browser: Chromium headless over real sockets to the web server (uvicorn),
the matcher process, PostgreSQL and Redis. Everything the page shows comes from the public REST API
and the WebSocket stream; a second trader acts through the REST API like any other client."""

from __future__ import annotations

import re
import time

import httpx
import pytest
from playwright.sync_api import expect

from apps.accounts import services as account_services
from apps.accounts.tests.conftest import totp_code
from apps.orders.models import Order
from tests import factories
from tests.conftest import FAST_FEEDS
from tests.factories import PASSWORD, assert_ledger_consistent, funded_trader
from tests.support import StreamServer, TcpProxy, WebPool

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]
expect.set_options(timeout=15_000)


def rest_client(web_server, user) -> httpx.Client:
    access = account_services.login(username=user.username, password=PASSWORD, otp_code=None).access
    return httpx.Client(base_url=f"{web_server.base_url}/api/v1", headers={"Authorization": f"Bearer {access}"},
                        timeout=10)  # fmt: skip


def place(client: httpx.Client, **body) -> dict:
    response = client.post("/orders", json={"symbol": "BTC-USDT", "type": "limit", **body})
    assert response.status_code == 201, response.text
    return response.json()


def eventually(predicate, what: str, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not within {timeout} s")
        time.sleep(0.1)


def log_in(page, username: str, password: str = PASSWORD) -> None:
    page.get_by_role("button", name="Log in", exact=True).click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_label("Username or email").fill(username)
    dialog.get_by_label("Password").fill(password)
    dialog.get_by_role("button", name="Log in", exact=True).click()


def live(page) -> None:
    expect(page.get_by_role("status", name="Connection")).to_have_text("Live")
    expect(page.locator("#book")).to_have_attribute("data-checksum", "verified")


def expect_balance(page, currency: str, available: str, locked: str | None = None) -> None:
    cells = page.locator(f"#balances tr[data-currency='{currency}'] td")
    expect(cells.nth(1)).to_have_text(available)
    if locked is not None:
        expect(cells.nth(2)).to_have_text(locked)


def test_trade_place_fill_and_cancel_live_without_reload(pages, web_server, market, matcher, artifacts):
    alice, bob = funded_trader(usdt="10000"), funded_trader(btc="2")
    page = pages.open("/trade/BTC-USDT")
    live(page)
    log_in(page, alice.username)
    expect(page.locator("#user-name")).to_have_text(alice.username)
    expect_balance(page, "USDT", "10000.00")

    page.get_by_label("Price").fill("100.00")
    page.get_by_label("Amount").fill("0.5000")
    expect(page.locator("#order-total")).to_contain_text("Total 50.000000 USDT")
    page.get_by_role("button", name="Buy BTC").click()
    order_row = page.locator("#open-orders tr", has_text="100.00")
    expect(order_row).to_contain_text("0.5000")
    expect(order_row).to_contain_text("New")
    expect(page.locator("#book-bids tr[data-price='100.00']")).to_contain_text("0.5000")
    expect_balance(page, "USDT", "9950.00", "50.00")

    page.get_by_label("Price").fill("99.00")
    page.get_by_label("Amount").fill("0.1000")
    page.get_by_role("button", name="Buy BTC").click()
    expect(page.locator("#book-bids tr[data-price='99.00']")).to_contain_text("0.1000")
    expect(page.locator("#open-orders tr")).to_have_count(2)

    # Whatever happens next reaches this page through the stream: the same document all along.
    page.evaluate("window.sameDocument = true")
    place(rest_client(web_server, bob), side="sell", price="100.00", quantity="0.5000")

    fill_row = page.locator("#fills tr").first
    expect(fill_row).to_contain_text("BTC-USDT")
    expect(fill_row).to_contain_text("Buy")
    expect(fill_row).to_contain_text("100.00")
    expect(fill_row).to_contain_text("0.5000")
    expect(fill_row).to_contain_text("0.00050000 BTC")  # the maker fee, 0.1 % of what she received
    expect(fill_row).to_contain_text("Maker")
    expect(page.locator("#open-orders tr")).to_have_count(1)
    expect(page.locator("#book-bids tr[data-price='100.00']")).to_have_count(0)
    expect_balance(page, "BTC", "0.4995")
    expect_balance(page, "USDT", "9940.10", "9.90")  # 10000 - 50 paid - 9.9 held at 99
    expect(page.locator("#tape tr").first).to_contain_text("100.00")
    expect(page.locator("#ticker-last")).to_have_text("100.00")
    expect(page.locator("#portfolio-assets")).to_contain_text("BTC")
    assert page.evaluate("window.sameDocument") is True

    page.get_by_role("button", name=re.compile(r"Cancel buy 0\.1000 BTC-USDT at 99\.00")).click()
    expect(page.locator("#open-orders tr")).to_have_count(0)
    expect(page.locator("#book-bids tr[data-price='99.00']")).to_have_count(0)
    expect_balance(page, "USDT", "9950.00", "0.00")
    live(page)
    assert page.evaluate("window.sameDocument") is True
    page.screenshot(path=artifacts / "trading-page.png", full_page=True)
    assert Order.objects.get(user=alice, price="99.00").status == "cancelled"
    assert_ledger_consistent()


def test_reconnects_after_the_connection_drops_and_catches_up(pages, web_server, market, matcher):
    """The proxy cuts every connection (a real network drop): the page says it is reconnecting, and
    once back it has the book from a fresh snapshot with a verified checksum, and the fill, the order
    and the balance that happened while it was away."""
    alice, bob = funded_trader(usdt="1000"), funded_trader(btc="1")
    place(rest_client(web_server, alice), side="buy", price="100.00", quantity="0.5000")
    proxy = TcpProxy(web_server.port)
    try:
        page = pages.open("/trade/BTC-USDT", base_url=proxy.base_url)
        live(page)
        log_in(page, alice.username)
        expect(page.locator("#open-orders tr")).to_contain_text("0.0000")
        page.evaluate("window.sameDocument = true")
        bob_client = rest_client(web_server, bob)

        proxy.cut()
        expect(page.get_by_role("status", name="Connection")).to_contain_text("Reconnecting")
        expect(page.locator("#book")).to_have_attribute("data-checksum", "stale")
        place(bob_client, side="sell", price="100.00", quantity="0.2000")
        place(bob_client, side="sell", price="101.00", quantity="0.3000")
        page.wait_for_timeout(1500)  # a retry or two fails while the network is down
        expect(page.get_by_role("status", name="Connection")).to_contain_text("Reconnecting")

        proxy.restore()
        # The retry backs off up to 15 s while the network is down: the first one after the restore
        # may be that far away.
        expect(page.get_by_role("status", name="Connection")).to_have_text("Live", timeout=40_000)
        live(page)
        expect(page.locator("#book-bids tr[data-price='100.00']")).to_contain_text("0.3000")
        expect(page.locator("#book-asks tr[data-price='101.00']")).to_contain_text("0.3000")
        expect(page.locator("#open-orders tr")).to_contain_text("Partially filled")
        expect(page.locator("#open-orders tr")).to_contain_text("0.2000")
        expect(page.locator("#fills tr").first).to_contain_text("0.2000")
        expect_balance(page, "BTC", "0.1998")
        expect(page.locator("#tape tr").first).to_contain_text("100.00")
        assert page.evaluate("window.sameDocument") is True

        # And it is live again: the next update arrives on the same connection.
        connections = page.evaluate("window.exchange.stream.connections")
        sequence = int(page.locator("#book").get_attribute("data-sequence"))
        place(bob_client, side="sell", price="102.00", quantity="0.1000")
        expect(page.locator("#book-asks tr[data-price='102.00']")).to_contain_text("0.1000")
        assert int(page.locator("#book").get_attribute("data-sequence")) == sequence + 1
        assert page.evaluate("window.exchange.stream.connections") == connections
    finally:
        proxy.close()


def test_page_of_the_web_pool_streams_from_the_stream_process(pages, web_server, market, matcher, live_env,
                                                              process_log_dir):  # fmt: skip
    """As `make run` serves it: the page and REST from gunicorn, the WebSocket from the stream process
    on another port, which the page learns from the server (its CSP allows exactly that origin)."""
    alice = funded_trader(usdt="1000")
    with StreamServer({**live_env, **FAST_FEEDS}, process_log_dir) as stream, \
            WebPool(live_env, process_log_dir, stream_port=stream.port) as pool:  # fmt: skip
        page = pages.open("/trade/BTC-USDT", base_url=pool.base_url)
        live(page)
        assert page.evaluate("window.exchange.stream.url") == stream.ws_url
        place(rest_client(pool, alice), side="buy", price="100.00", quantity="0.5000")
        expect(page.locator("#book-bids tr[data-price='100.00']")).to_contain_text("0.5000")
        live(page)


def test_order_form_enforces_tick_and_lot_and_shows_api_errors_next_to_the_field(pages, web_server, market, matcher):
    alice = funded_trader(usdt="10")
    page = pages.open()
    log_in(page, alice.username)
    expect_balance(page, "USDT", "10.00")
    price, amount = page.get_by_label("Price"), page.get_by_label("Amount")
    posted = []
    page.on("request", lambda r: r.method == "POST" and r.url.endswith("/api/v1/orders") and posted.append(r))

    price.fill("100.005")
    expect(page.locator("#order-price-error")).to_have_text("The price must be a multiple of the tick size 0.01 USDT.")
    expect(price).to_have_attribute("aria-invalid", "true")
    price.fill("100.00")
    expect(page.locator("#order-price-error")).to_be_hidden()
    amount.fill("0.00005")
    expect(page.locator("#order-quantity-error")).to_have_text(
        "The amount must be a multiple of the lot size 0.0001 BTC."
    )
    amount.fill("1e-4")
    expect(page.locator("#order-quantity-error")).to_contain_text("plain decimal")
    page.get_by_role("button", name="Buy BTC").click()
    expect(amount).to_be_focused()  # the first field in error
    page.wait_for_timeout(300)
    assert posted == [] and not Order.objects.exists()  # nothing was sent

    # The API's own message, next to the field it is about: 1 BTC at 100 needs 100 USDT.
    amount.fill("1.0000")
    page.get_by_role("button", name="Buy BTC").click()
    expect(page.locator("#order-quantity-error")).to_contain_text(re.compile("balance|insufficient", re.I))
    expect(amount).to_be_focused()
    # Below the market's minimum order value (1 USDT): 0.0001 x 100 = 0.01.
    amount.fill("0.0001")
    page.get_by_role("button", name="Buy BTC").click()
    expect(page.locator("#order-quantity-error")).to_contain_text(re.compile("minimum|notional", re.I))
    assert len(posted) == 2 and not Order.objects.exists()

    # A market order has no price field; the same rules hold for the amount.
    page.get_by_label("Order type").select_option("market")
    expect(page.get_by_label("Price")).to_be_hidden()
    page.get_by_text("Sell", exact=True).click()
    expect(page.get_by_role("button", name="Sell BTC")).to_be_visible()


def test_log_in_with_two_factor_then_log_out(pages, web_server, market):
    from django_otp.plugins.otp_totp.models import TOTPDevice

    carol = funded_trader(usdt="5")
    device = TOTPDevice.objects.create(user=carol, name="phone", confirmed=True)
    page = pages.open()
    log_in(page, carol.username, "wrong password")
    expect(page.locator("#login-error")).to_contain_text(re.compile("invalid|incorrect", re.I))

    dialog = page.get_by_role("dialog")
    dialog.get_by_label("Password").fill(PASSWORD)
    dialog.get_by_role("button", name="Log in", exact=True).click()
    expect(page.locator("#login-error")).to_contain_text("Two-factor authentication is on")
    expect(dialog.get_by_label("Two-factor code")).to_be_focused()
    accepted_now = {totp_code(device, step) for step in (-1, 0, 1)}
    dialog.get_by_label("Two-factor code").fill(
        next(c for c in ("000000", "111111", "222222", "333333") if c not in accepted_now)
    )
    dialog.get_by_role("button", name="Log in", exact=True).click()
    expect(page.locator("#login-error")).to_contain_text("wrong")
    page.wait_for_timeout(2000)  # django-otp throttles the device for a second after a wrong code
    dialog.get_by_label("Two-factor code").fill(totp_code(device))
    dialog.get_by_role("button", name="Log in", exact=True).click()
    expect(page.locator("#user-name")).to_have_text(carol.username)
    expect_balance(page, "USDT", "5.00")
    refresh = page.evaluate("sessionStorage.getItem('exchange.refresh')")

    page.reload()  # the session survives a reload of the tab
    expect(page.locator("#user-name")).to_have_text(carol.username)
    refresh = page.evaluate("sessionStorage.getItem('exchange.refresh')") or refresh

    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_role("button", name="Log in", exact=True)).to_be_visible()
    expect(page.locator("#balances tr")).to_have_count(0)
    expect(page.get_by_text("Log in to see your balances.")).to_be_visible()
    assert page.evaluate("sessionStorage.getItem('exchange.refresh')") is None
    # The server revoked the refresh token: it cannot mint another access token.
    answer = httpx.post(f"{web_server.base_url}/api/v1/auth/refresh", json={"refresh": refresh}, timeout=10)
    assert answer.status_code == 401
    live(page)


def test_register_shows_field_errors_then_logs_in(pages, web_server, market):
    page = pages.open()
    page.get_by_role("button", name="Register").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_label("Email").fill("dave@example.com")
    dialog.get_by_label("Username").fill("dave")
    dialog.get_by_label("Password").fill("123")
    dialog.get_by_role("button", name="Create account").click()
    expect(page.locator("#register-password-error")).not_to_be_empty()
    from apps.accounts.models import User

    assert not User.objects.filter(username="dave").exists()

    dialog.get_by_label("Password").fill("a-long-and-unusual-passphrase-77")
    dialog.get_by_role("button", name="Create account").click()
    expect(page.locator("#user-name")).to_have_text("dave")
    expect(page.get_by_role("button", name="Log out")).to_be_visible()
    assert User.objects.filter(username="dave", email="dave@example.com").exists()


def test_phone_width_has_no_horizontal_scroll_and_every_control_is_labelled(
    pages, web_server, market, matcher, artifacts
):
    alice, bob = funded_trader(usdt="1000"), funded_trader(btc="1")
    place(rest_client(web_server, alice), side="buy", price="100.00", quantity="0.5000")
    place(rest_client(web_server, bob), side="sell", price="100.00", quantity="0.1000")
    page = pages.open(viewport={"width": 360, "height": 780}, is_mobile=True, has_touch=True)
    live(page)
    no_sideways_scroll = "[window.innerWidth, document.documentElement.scrollWidth]"
    assert page.evaluate(no_sideways_scroll) == [360, 360]
    log_in(page, alice.username)
    expect(page.locator("#open-orders tr")).to_contain_text("Partially filled")
    expect(page.locator("#fills tr")).to_have_count(1)
    expect(page.locator("#portfolio-assets tr")).not_to_have_count(0)
    # Wide tables scroll inside their panels; the page itself never scrolls sideways (or zooms out).
    assert page.evaluate(no_sideways_scroll) == [360, 360]
    for name in ("Price", "Amount", "Order type", "Time in force", "Market"):
        expect(page.get_by_label(name).first).to_be_attached()
    unlabelled = page.evaluate("""() => [...document.querySelectorAll('input, select, button, textarea')]
        .filter((el) => !(el.labels?.length || el.getAttribute('aria-label') || el.textContent.trim()))
        .map((el) => el.outerHTML)""")
    assert unlabelled == []
    page.screenshot(path=artifacts / "trading-page-phone.png", full_page=True)


def test_book_checksum_in_the_browser_matches_the_server(pages, market):
    """The page's CRC32 and decimal code against the Python reference (apps.markets.client)."""
    import random

    from apps.markets.client import book_checksum

    rng = random.Random(7)
    books = []
    for _ in range(50):
        bids = sorted({f"{rng.randint(1, 99999)}.{rng.randint(0, 99):02d}" for _ in range(rng.randint(0, 25))},
                      key=float, reverse=True)  # fmt: skip
        asks = sorted({f"{rng.randint(100000, 199999)}.{rng.randint(0, 99):02d}" for _ in range(rng.randint(0, 25))},
                      key=float)  # fmt: skip
        books.append({"bids": [[p, f"0.{rng.randint(1, 9999):04d}"] for p in bids],
                      "asks": [[p, f"{rng.randint(0, 50)}.{rng.randint(1, 9999):04d}"] for p in asks]})  # fmt: skip
    page = pages.open()
    got = page.evaluate(
        """async (books) => {
            const { bookChecksum, OrderBook } = await import('/static/js/book.js');
            return books.map((b) => {
                const book = new OrderBook('X');
                const checksum = bookChecksum(b.bids, b.asks);
                book.apply({ type: 'snapshot', sequence: 1, bids: b.bids, asks: b.asks, checksum });
                return [bookChecksum(b.bids, b.asks), book.checksum()];
            });
        }""",
        books,
    )
    assert got == [[book_checksum(b["bids"], b["asks"])] * 2 for b in books]
    decimals = page.evaluate("""async () => {
        const d = await import('/static/js/decimal.js');
        return [d.isMultipleOf('100.05', '0.01'), d.isMultipleOf('100.005', '0.01'), d.isMultipleOf('0.3', '0.1'),
                d.multiply('0.1', '0.2'), d.toUnits('1.50', 1), d.toUnits('1.55', 1), d.compare('10.0', '9.99')];
    }""")
    assert decimals == [True, False, True, "0.02", 15, None, 1]


def test_halt_shows_a_banner_and_the_api_refusal_then_resume_clears_it(pages, web_server, market, matcher):
    from django.db import transaction

    from apps.markets import services as market_services

    alice = funded_trader(usdt="100")
    page = pages.open()
    live(page)
    log_in(page, alice.username)
    expect_balance(page, "USDT", "100.00")
    with transaction.atomic():
        market_services.set_status(market=market, status="halted", reason="maintenance")
    banner = page.get_by_role("alert").filter(has_text="halted")
    expect(banner).to_contain_text("Trading in BTC-USDT is halted (Maintenance)")
    expect(page.locator("#ticker-status")).to_have_text("Halted")

    page.get_by_label("Price").fill("10.00")
    page.get_by_label("Amount").fill("0.5000")
    page.get_by_role("button", name="Buy BTC").click()
    expect(page.locator("#order-form-error")).to_contain_text(re.compile("halted", re.I))
    assert not Order.objects.exists()

    with transaction.atomic():
        market_services.set_status(market=market, status="trading")
    expect(page.locator("#ticker-status")).to_have_text("Trading")
    expect(page.locator("#halt-banner")).to_be_hidden()
    page.get_by_role("button", name="Buy BTC").click()
    expect(page.locator("#open-orders tr")).to_contain_text("10.00")


def test_switching_markets_follows_the_new_book_only(pages, web_server, market, matcher):
    factories.market("ETH", "USDT", tick_size="0.01", lot_size="0.0001", min_notional="1", maker_fee="0.001",
                     taker_fee="0.002")  # fmt: skip
    bob = funded_trader(usdt="1000")
    page = pages.open("/trade/BTC-USDT")
    live(page)
    page.get_by_label("Market").select_option("ETH-USDT")
    expect(page).to_have_url(re.compile(r"/trade/ETH-USDT$"))
    expect(page.locator("#ticker-symbol")).to_have_text("ETH-USDT")
    expect(page.locator("#order-quantity-hint")).to_contain_text("ETH")
    live(page)
    client = rest_client(web_server, bob)
    place(client, side="buy", price="99.00", quantity="0.1000")  # BTC-USDT: not this page's book now
    btc_book = f"{web_server.base_url}/api/v1/markets/BTC-USDT/book"
    eventually(lambda: httpx.get(btc_book, timeout=5).json()["bids"] == [["99.00", "0.1000"]], "BTC-USDT's bid")
    place(client, symbol="ETH-USDT", side="buy", price="1500.00", quantity="0.0100")
    expect(page.locator("#book-bids tr[data-price='1500.00']")).to_contain_text("0.0100")
    expect(page.locator("#book-bids tr")).to_have_count(1)
    live(page)
    page.reload()  # the address names the market
    expect(page.locator("#ticker-symbol")).to_have_text("ETH-USDT")
    expect(page.locator("#book-bids tr[data-price='1500.00']")).to_contain_text("0.0100")


def test_market_order_from_the_form_takes_the_book(pages, web_server, market, matcher):
    alice, bob = funded_trader(usdt="1000"), funded_trader(btc="1")
    place(rest_client(web_server, bob), side="sell", price="101.00", quantity="0.3000")
    page = pages.open()
    live(page)
    log_in(page, alice.username)
    expect_balance(page, "USDT", "1000.00")
    expect(page.locator("#book-asks tr[data-price='101.00']")).to_contain_text("0.3000")
    page.get_by_label("Order type").select_option("market")
    page.get_by_label("Amount").fill("0.1000")
    page.get_by_role("button", name="Buy BTC").click()
    fill_row = page.locator("#fills tr").first
    expect(fill_row).to_contain_text("101.00")
    expect(fill_row).to_contain_text("Taker")
    expect(page.locator("#book-asks tr[data-price='101.00']")).to_contain_text("0.2000")
    expect(page.locator("#open-orders tr")).to_have_count(0)
    expect_balance(page, "BTC", "0.0998")  # 0.1 less the 0.2 % taker fee
    expect_balance(page, "USDT", "989.90", "0.00")  # the whole balance was held, then the rest released
    # The candle chart follows the interval buttons.
    page.get_by_role("button", name="5m").click()
    expect(page.get_by_role("button", name="5m")).to_have_attribute("aria-pressed", "true")
    expect(page.get_by_role("button", name="1m")).to_have_attribute("aria-pressed", "false")
    expect(page.locator("#chart-state")).to_be_hidden()


def test_an_expired_access_token_is_refreshed_and_a_revoked_session_asks_to_log_in_again(pages, web_server, market):
    alice = funded_trader(usdt="100")
    page = pages.open()
    live(page)
    log_in(page, alice.username)
    expect_balance(page, "USDT", "100.00")
    first_refresh = page.evaluate("sessionStorage.getItem('exchange.refresh')")
    expired = "window.exchange.api.access = 'x.' + btoa(JSON.stringify({exp: 1})) + '.x'"

    # Past its time, the access token is renewed before the next request; the refresh token rotates.
    page.evaluate(expired)
    page.get_by_label("Price").fill("10.00")
    page.get_by_label("Amount").fill("1.0000")
    page.get_by_role("button", name="Buy BTC").click()
    expect(page.locator("#open-orders tr")).to_contain_text("10.00")
    second_refresh = page.evaluate("sessionStorage.getItem('exchange.refresh')")
    assert second_refresh and second_refresh != first_refresh
    refresh_url = f"{web_server.base_url}/api/v1/auth/refresh"
    assert httpx.post(refresh_url, json={"refresh": first_refresh}, timeout=10).status_code == 401

    # The session is revoked elsewhere: the next action finds out and asks to log in again.
    revoked = rest_client(web_server, alice).post("/auth/logout", json={"refresh": second_refresh})
    assert revoked.status_code == 204
    page.evaluate(expired)
    page.get_by_role("button", name=re.compile(r"^Cancel buy")).click()
    dialog = page.get_by_role("dialog")
    expect(dialog.locator("#login-error")).to_have_text("Your session expired. Log in again.")
    expect(page.locator("#open-orders tr")).to_have_count(0)
    assert page.evaluate("sessionStorage.getItem('exchange.refresh')") is None
    dialog.get_by_label("Username or email").fill(alice.username)
    dialog.get_by_label("Password").fill(PASSWORD)
    dialog.get_by_role("button", name="Log in", exact=True).click()
    expect(page.locator("#open-orders tr")).to_contain_text("10.00")
