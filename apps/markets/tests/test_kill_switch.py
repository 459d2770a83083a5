"""The kill switch: every market and every currency's withdrawals halted at once, from the admin or
the command line, with who and why in the audit log; released, it resumes only what it halted. And
the race it must win: no order is accepted after the switch has committed."""

import threading
import time
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from apps.core.models import AuditEvent
from apps.core.redis import get_redis
from apps.kyc.tests.test_admin_queue import admin_login
from apps.markets import services, streams
from apps.markets.exceptions import MarketHalted
from apps.markets.models import CIRCUIT_BREAKER, KILL_SWITCH, Market
from apps.orders import checks
from apps.orders.models import Order
from apps.wallets.models import Currency
from apps.wallets.tests.test_withdrawals import code_for, fund, trusted, verified_user
from tests import factories
from tests.factories import UserFactory, client_for, funded_trader, place


@pytest.fixture
def markets(market):
    eth = factories.market("ETH", "USDT", tick_size="0.01", lot_size="0.001")
    ethbtc = factories.market("ETH", "BTC", tick_size="0.00001", lot_size="0.001")
    return market, eth, ethbtc


def status_of(*markets):
    return [tuple(Market.objects.filter(pk=m.pk).values_list("status", "status_reason").get()) for m in markets]


@pytest.mark.django_db
def test_engage_halts_every_market_and_withdrawals_and_release_resumes_only_what_it_halted(
    markets, django_capture_on_commit_callbacks
):
    btcusdt, ethusdt, ethbtc = markets
    staff = UserFactory(is_staff=True)
    services.set_status(market=ethbtc, status=Market.Status.HALTED, reason="listing review", actor=staff)
    Market.objects.filter(pk=ethusdt.pk).update(status="halted", status_reason=CIRCUIT_BREAKER)
    Currency.objects.filter(code="ETH").update(withdrawals_halted=True, withdrawals_halt_reason="node upgrade")

    with django_capture_on_commit_callbacks(execute=True):
        done = services.engage_kill_switch(reason="suspected key compromise", actor=staff)
    assert done["markets"] == ["BTC-USDT", "ETH-USDT"]  # ETH-BTC was halted already: left as it was
    assert done["currencies"] == ["BTC", "USDT"]
    assert status_of(btcusdt, ethusdt, ethbtc) == [("halted", KILL_SWITCH), ("halted", KILL_SWITCH),
                                                   ("halted", "listing review")]  # fmt: skip
    assert set(Currency.objects.values_list("code", "withdrawals_halted")) == {("BTC", True), ("ETH", True),
                                                                               ("USDT", True)}  # fmt: skip
    event = AuditEvent.objects.get(action="kill_switch.engaged")
    assert (event.actor, event.reason, event.target_type, event.target_id) == (
        staff,
        "suspected key compromise",
        "exchange",
        KILL_SWITCH,
    )
    assert event.data == {"markets": ["BTC-USDT", "ETH-USDT"], "currencies": ["BTC", "USDT"], "via": "admin"}
    # The matcher of each market gets its halt in the stream.
    halt = get_redis().xrange(streams.stream_key("BTC-USDT"))[-1][1]
    assert halt == {"op": "halt", "id": "0", "reason": KILL_SWITCH}

    done = services.release_kill_switch(reason="keys rotated", actor=staff)
    assert done["markets"] == ["BTC-USDT", "ETH-USDT"] and done["currencies"] == ["BTC", "USDT"]
    assert status_of(btcusdt, ethusdt, ethbtc) == [("trading", ""), ("trading", ""), ("halted", "listing review")]
    assert Currency.objects.get(code="ETH").withdrawals_halt_reason == "node upgrade"  # not the switch's halt
    assert AuditEvent.objects.get(action="kill_switch.released").reason == "keys rotated"


@pytest.mark.django_db
def test_while_engaged_orders_get_403_market_halted_and_withdrawals_403_withdrawals_halted(market):
    user = verified_user()
    fund(user)
    to = trusted(user)
    seller = funded_trader(btc="1")
    resting = place(seller, side="sell", type="limit", price="100.00", quantity="0.1")
    services.engage_kill_switch(reason="drill", actor=None)
    body = {"symbol": "BTC-USDT", "side": "sell", "type": "limit", "price": "100.00", "quantity": "0.1"}
    response = client_for(seller).post("/api/v1/orders", body, format="json")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "market_halted"
    assert response.json()["error"]["details"] == {"symbol": "BTC-USDT", "reason": KILL_SWITCH}
    from apps.wallets.tests.test_withdrawals import client_for as wallet_client

    response = wallet_client(user).post("/api/v1/withdrawals", {"currency": "BTC", "amount": "0.1", "address": to,
                                                                "otp_code": code_for(user)}, format="json")  # fmt: skip
    assert response.status_code == 403 and response.json()["error"]["code"] == "withdrawals_halted"
    # Cancels still go through.
    assert client_for(seller).delete(f"/api/v1/orders/{resting.pk}").status_code == 202


@pytest.mark.django_db
def test_a_reason_is_required(market):
    for reason in ("", "   "):
        with pytest.raises(ValueError):
            services.engage_kill_switch(reason=reason, actor=None)
        with pytest.raises(CommandError):
            call_command("halt_trading", "--reason", reason)
    assert status_of(market) == [("trading", "")]
    assert not AuditEvent.objects.filter(action__startswith="kill_switch").exists()


@pytest.mark.django_db
def test_the_command_line_switch_records_the_operator(market):
    operator = UserFactory(is_staff=True)
    out = StringIO()
    call_command("halt_trading", "--reason", "exchange-wide incident", "--operator", operator.username, stdout=out)
    assert "Halted trading on BTC-USDT" in out.getvalue()
    event = AuditEvent.objects.get(action="kill_switch.engaged")
    assert event.actor == operator and event.data["via"].startswith("command line (")
    call_command("halt_trading", "--resume", "--reason", "resolved", stdout=out)
    assert status_of(market) == [("trading", "")]
    assert AuditEvent.objects.get(action="kill_switch.released").actor is None
    with pytest.raises(CommandError, match="No active staff user"):
        call_command("halt_trading", "--reason", "x", "--operator", UserFactory().username)  # not staff
    assert status_of(market) == [("trading", "")]


@pytest.mark.django_db
def test_the_admin_kill_switch_page_engages_and_releases_with_the_staff_user_in_the_audit_log(market):
    boss = UserFactory(is_staff=True, is_superuser=True)
    client = admin_login(boss)
    assert "Kill switch" in client.get("/admin/markets/market/").content.decode()
    page = client.get("/admin/markets/market/kill-switch/")
    assert page.status_code == 200 and b"Engage the kill switch" in page.content
    assert client.post("/admin/markets/market/kill-switch/", {"reason": "", "engage": "1"}).status_code == 200
    assert status_of(market) == [("trading", "")]  # no reason: the form again, nothing halted
    response = client.post("/admin/markets/market/kill-switch/", {"reason": "runaway bot", "engage": "1"})
    assert response.status_code == 302
    assert status_of(market) == [("halted", KILL_SWITCH)]
    assert b"Release the kill switch" in client.get("/admin/markets/market/kill-switch/").content
    client.post("/admin/markets/market/kill-switch/", {"reason": "bot stopped", "release": "1"})
    assert status_of(market) == [("trading", "")]
    assert [(e.action, e.actor, e.reason) for e in AuditEvent.objects.filter(action__startswith="kill_switch")] == [
        ("kill_switch.engaged", boss, "runaway bot"),
        ("kill_switch.released", boss, "bot stopped"),
    ]


@pytest.mark.django_db
def test_staff_without_the_permission_cannot_open_the_kill_switch(market):
    clerk = UserFactory(is_staff=True)
    client = admin_login(clerk)
    assert client.get("/admin/markets/market/kill-switch/").status_code == 403
    assert client.post("/admin/markets/market/kill-switch/", {"reason": "x", "engage": "1"}).status_code == 403
    assert status_of(market) == [("trading", "")]


@pytest.mark.django_db(transaction=True)  # threads, each on its own connection
def test_no_order_is_accepted_after_the_switch_commits(market, monkeypatch):
    """Order entry racing the switch. Each order's transaction is slowed down after its status check
    (a pre-trade check that sleeps), so that without the share lock an order that saw `trading` would
    commit after the halt. The count right after the switch returns must be the final count."""

    def slow(order):
        time.sleep(0.05)

    monkeypatch.setattr(checks, "INSIDE", (*checks.INSIDE, slow))
    users = [funded_trader(usdt="100000") for _ in range(4)]
    accepted, refused, stop = [], [], threading.Event()

    def enter(user):
        try:
            while not stop.is_set():
                try:
                    accepted.append(place(user, side="buy", type="limit", price="10.00", quantity="0.1").pk)
                except MarketHalted:
                    refused.append(user.pk)
                    return
        finally:
            connection.close()

    threads = [threading.Thread(target=enter, args=(u,)) for u in users]
    for t in threads:
        t.start()
    while len(accepted) < 8:
        time.sleep(0.01)
    services.engage_kill_switch(reason="race", actor=None)
    count_at_commit = Order.objects.count()
    time.sleep(0.3)  # orders that saw `trading` before the switch would commit in this time
    stop.set()
    for t in threads:
        t.join(10)
    assert Order.objects.count() == count_at_commit == len(accepted)
    assert len(refused) == len(users)  # every thread met the halt


@pytest.mark.django_db(transaction=True)  # three transactions on three connections at once
def test_the_kill_switch_never_deadlocks_with_order_entry_and_a_settling_batch(markets, monkeypatch):
    """Three transactions at once: the matcher settling a BTC-USDT trade of user U (it holds U's
    accounts until it commits), U entering an order on ETH-USDT (it holds that market's row in share
    mode, then waits for U's USDT account) and the kill switch (every market row FOR UPDATE, in id
    order). Settlement takes its market's row before any account, so the three queue up instead of
    closing a cycle, which PostgreSQL would break by aborting one of them."""
    from apps.matching import worker
    from apps.matching.testing import drain, matcher

    user, seller = funded_trader(usdt="1000"), funded_trader(btc="1")
    place(seller, side="sell", type="limit", price="100.00", quantity="0.1")
    place(user, side="buy", type="limit", price="100.00", quantity="0.1")
    real_write = worker.write

    def slow_write(cursor, batch, **kwargs):
        result = real_write(cursor, batch, **kwargs)
        if batch.trades:
            time.sleep(0.8)  # holding its locks while the others queue up
        return result

    monkeypatch.setattr(worker, "write", slow_write)
    errors, done = [], []

    def run(name, function):
        try:
            function()
            done.append(name)
        except Exception as exc:  # noqa: BLE001 - the test reports every failure
            errors.append((name, repr(exc)))
        finally:
            connection.close()

    def settle():
        with matcher(["BTC-USDT"]) as m:
            drain(m)

    def enter():
        place(user, symbol="ETH-USDT", side="buy", type="limit", price="10.00", quantity="1.000")

    def kill():
        services.engage_kill_switch(reason="incident", actor=None)

    threads = []
    for name, function, pause in (("matcher", settle, 0.4), ("order", enter, 0.2), ("kill", kill, 0)):
        threads.append(threading.Thread(target=run, args=(name, function)))
        threads[-1].start()
        time.sleep(pause)
    for thread in threads:
        thread.join(30)
    assert errors == [] and sorted(done) == ["kill", "matcher", "order"]
    assert status_of(*markets) == [("halted", KILL_SWITCH)] * 3
