"""Portfolio accounting on hand-computed scenarios, through the real matcher and ledger."""

import datetime as dt
from decimal import Decimal as D

import pytest
from django.db.models import F
from django.utils import timezone

from apps.markets.models import Candle
from apps.matching.testing import run_once
from apps.portfolio import selectors, services
from apps.portfolio.models import Position, Snapshot
from apps.portfolio.tasks import take_snapshots
from apps.wallets import ledger
from apps.wallets.models import Account, Currency, Transaction
from tests import factories
from tests.factories import client_for, funded_trader, place

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("in_test_transaction")]


def deposit(user, code: str, amount: str, *, key: str | None = None) -> Transaction:
    return ledger.post(kind="deposit", idempotency_key=key or f"test-deposit:{user.pk}:{code}:{amount}", legs=[
        ledger.Leg(ledger.system_account(Account.Kind.HOT, code), -D(amount)),
        ledger.Leg(ledger.user_account(user, code), D(amount)),
    ])  # fmt: skip


def withdraw(user, code: str, amount: str) -> None:
    ledger.post(kind="withdrawal", idempotency_key=f"test-withdrawal:{user.pk}:{code}:{amount}", legs=[
        ledger.Leg(ledger.user_account(user, code), -D(amount)),
        ledger.Leg(ledger.system_account(Account.Kind.HOT, code), D(amount)),
    ])  # fmt: skip


def trade(maker, taker, *, side: str, price: str, quantity: str, symbol: str = "BTC-USDT") -> None:
    """`maker` rests a limit order, `taker` crosses it with a limit at the same price."""
    other = "sell" if side == "buy" else "buy"
    place(maker, symbol=symbol, side=other, type="limit", price=price, quantity=quantity)
    run_once()
    place(taker, symbol=symbol, side=side, type="limit", price=price, quantity=quantity)
    run_once()


def assets(user) -> dict:
    payload = selectors.portfolio_payload(services.portfolio_for(user))
    return payload | {"assets": {a["currency"]: a for a in payload["assets"]}}


def test_buy_twice_sell_part_with_fees(market):
    # BTC-USDT: maker 0.1 %, taker 0.2 %; USDT has 6 decimals, BTC 8.
    alice, bob = funded_trader(usdt="1000"), funded_trader(btc="2", usdt="1000")
    trade(bob, alice, side="buy", price="100.00", quantity="0.5")  # alice takes: 0.5 - 0.001 fee = 0.499 BTC for 50
    trade(bob, alice, side="buy", price="120.00", quantity="0.5")  # 0.499 BTC for 60
    services.sync_positions(alice)
    btc = Position.objects.get(user=alice, currency="BTC")
    assert (btc.quantity, btc.cost, btc.realized_pnl) == (D("0.998"), D("110"), 0)
    # alice sells 0.4 as maker at 150: receives 60 - 0.06 fee = 59.94 USDT.
    trade(alice, bob, side="buy", price="150.00", quantity="0.4")
    removed = D("110") * D("0.4") / D("0.998")  # at the average cost 110 / 0.998
    realized = D("59.94") - removed
    got = assets(alice)
    btc_row, usdt_row = got["assets"]["BTC"], got["assets"]["USDT"]
    assert btc_row["total"] == "0.59800000"
    assert btc_row["average_cost"] == str((D("110") / D("0.998")).quantize(D("1e-18")))
    assert btc_row["price"] == "150.000000"
    assert btc_row["value"] == "89.700000"
    remaining_cost = D("110") - removed.quantize(D("1e-18"))
    assert btc_row["unrealized_pnl"] == str((D("89.7") - remaining_cost).quantize(D("0.000001")))
    assert btc_row["realized_pnl"] == str(realized.quantize(D("0.000001"))) == "15.851824"
    # USDT: 1000 - 50 - 60 + 59.94, always at cost 1: nothing unrealized or realized.
    assert usdt_row["total"] == "949.940000"
    assert (usdt_row["average_cost"], usdt_row["price"], usdt_row["unrealized_pnl"], usdt_row["realized_pnl"]) == (
        "1.000000", "1.000000", "0.000000", "0.000000")  # fmt: skip
    assert got["total_value"] == "1039.640000"  # 949.94 + 89.70
    assert got["valuation_currency"] == "USDT"


def test_sync_is_idempotent_and_equals_a_rebuild_in_small_chunks(market, monkeypatch):
    alice, bob = funded_trader(usdt="1000"), funded_trader(btc="2", usdt="1000")
    trade(bob, alice, side="buy", price="100.00", quantity="0.5")
    trade(alice, bob, side="buy", price="130.00", quantity="0.2")
    trade(bob, alice, side="buy", price="90.00", quantity="0.3")
    first = {p.currency_id: (p.quantity, p.cost, p.realized_pnl) for p in services.sync_positions(alice).values()}
    again = {p.currency_id: (p.quantity, p.cost, p.realized_pnl) for p in services.sync_positions(alice).values()}
    assert first == again
    # The quantity followed the balance exactly.
    for account in Account.objects.filter(user=alice):
        assert first[account.currency_id][0] == account.available + account.locked
    # Rebuild from the first entry, three ledger entries per read: the chunk edges cut transactions.
    Position.objects.filter(user=alice).update(last_entry_id=0, quantity=0, cost=0, realized_pnl=0)
    monkeypatch.setattr(services, "CHUNK", 3)
    rebuilt = {p.currency_id: (p.quantity, p.cost, p.realized_pnl) for p in services.sync_positions(alice).values()}
    assert rebuilt == first


def test_market_without_a_direct_pair_is_valued_through_a_path(market):
    Currency.objects.filter(pk="ETH").update(decimals=8)
    factories.market("ETH", "BTC", tick_size="0.0001", lot_size="0.001", maker_fee="0", taker_fee="0")
    alice, bob, dave = funded_trader(usdt="1000"), funded_trader(btc="2", usdt="1000"), funded_trader()
    deposit(dave, "ETH", "50")
    trade(bob, alice, side="buy", price="100.00", quantity="1")  # alice: 0.998 BTC for 100 USDT
    # alice pays 0.5 BTC for 10 ETH; BTC is worth 100 USDT (the last BTC-USDT trade before this one).
    trade(dave, alice, side="buy", price="0.0500", quantity="10", symbol="ETH-BTC")
    trade(bob, dave, side="sell", price="120.00", quantity="0.1")  # BTC-USDT moves to 120
    got = assets(alice)
    eth, btc = got["assets"]["ETH"], got["assets"]["BTC"]
    assert (eth["total"], eth["average_cost"], eth["price"]) == ("10.00000000", "5.000000", "6.000000")
    assert (eth["value"], eth["unrealized_pnl"], eth["realized_pnl"]) == ("60.000000", "10.000000", "0.000000")
    # The 0.5 BTC paid left at the average cost 100 / 0.998 and was worth 50: a realized loss.
    assert btc["realized_pnl"] == str((D("50") - D("100") * D("0.5") / D("0.998")).quantize(D("0.000001")))
    assert btc["total"] == "0.49800000" and btc["price"] == "120.000000"
    position = Position.objects.get(user=alice, currency="ETH")
    assert (position.quantity, position.cost) == (D("10"), D("50"))


def test_deposit_is_valued_at_the_price_before_its_minute_and_withdrawal_keeps_the_average(market):
    alice, bob = funded_trader(usdt="1000"), funded_trader(btc="2", usdt="1000")
    trade(bob, alice, side="buy", price="200.00", quantity="0.5")  # 0.499 BTC for 100
    # The trades are a minute before the deposit (their candle moved back): the deposit is valued at
    # the last trade price, 200.
    Candle.objects.filter(interval="1m").update(open_time=F("open_time") - dt.timedelta(minutes=1))
    deposit(alice, "BTC", "0.501")
    services.sync_positions(alice)
    btc = Position.objects.get(user=alice, currency="BTC")
    assert (btc.quantity, btc.cost) == (D("1"), D("200.2"))
    withdraw(alice, "BTC", "0.25")
    services.sync_positions(alice)
    btc.refresh_from_db()
    # A quarter leaves at the average cost: the average stays 200.2, nothing is realized.
    assert (btc.quantity, btc.cost, btc.realized_pnl) == (D("0.75"), D("150.15"), 0)


def test_deposit_without_any_price_leaves_the_cost_unknown_until_closed(market):
    bob = funded_trader(btc="1")
    row = assets(bob)["assets"]["BTC"]
    assert (row["total"], row["average_cost"], row["price"], row["value"]) == ("1.00000000", None, None, None)
    assert assets(bob)["total_value"] == "0.000000"
    withdraw(bob, "BTC", "1")
    services.sync_positions(bob)
    position = Position.objects.get(user=bob, currency="BTC")
    assert (position.quantity, position.cost, position.unpriced) == (0, 0, False)


def test_changing_the_valuation_currency_rebuilds_positions(market, settings):
    alice, bob = funded_trader(usdt="1000"), funded_trader(btc="2", usdt="1000")
    trade(bob, alice, side="buy", price="100.00", quantity="0.5")
    services.sync_positions(alice)
    settings.PORTFOLIO_VALUATION_CURRENCY = "BTC"
    got = assets(alice)
    assert got["valuation_currency"] == "BTC"
    # In BTC, USDT is worth 1/100 now; BTC itself is always at cost 1.
    assert got["assets"]["BTC"]["price"] == "1.00000000"
    assert got["assets"]["BTC"]["average_cost"] == "1.00000000"  # the valuation currency itself
    assert got["assets"]["USDT"]["price"] == "0.01000000"
    assert {p.valuation_currency_id for p in Position.objects.filter(user=alice)} == {"BTC"}


def test_snapshot_task_twice_on_the_same_day_keeps_one_snapshot(market):
    alice, bob = funded_trader(usdt="1000"), funded_trader(btc="2", usdt="1000")
    trade(bob, alice, side="buy", price="100.00", quantity="0.5")
    first = take_snapshots.apply().get()
    assert first["created"] == 2 and first["failed"] == 0
    snapshot = Snapshot.objects.get(user=alice)
    assert snapshot.date == timezone.now().date()
    assert snapshot.total_value == D("950") + D("0.499") * 100
    trade(bob, alice, side="buy", price="110.00", quantity="0.5")
    second = take_snapshots.apply().get()
    assert second["created"] == 0
    assert Snapshot.objects.filter(user=alice).count() == 1
    snapshot.refresh_from_db()
    assert snapshot.total_value == D("950") + D("0.499") * 100  # the day's first value stands
    again, created = services.take_snapshot(alice)
    assert (again.pk, created) == (snapshot.pk, False)
    # The next day adds one more.
    services.take_snapshot(alice, today=snapshot.date + dt.timedelta(days=1))
    assert Snapshot.objects.filter(user=alice).count() == 2


def test_portfolio_and_history_endpoints(market):
    alice, bob = funded_trader(usdt="1000"), funded_trader(btc="2", usdt="1000")
    trade(bob, alice, side="buy", price="100.00", quantity="0.5")
    client = client_for(alice)
    body = client.get("/api/v1/portfolio").json()
    assert body["valuation_currency"] == "USDT"
    assert {a["currency"] for a in body["assets"]} == {"BTC", "USDT"}
    assert set(body["assets"][0]) == {"currency", "available", "locked", "total", "average_cost", "price", "value",
                                      "unrealized_pnl", "realized_pnl"}  # fmt: skip
    today = timezone.now().date()
    for days in range(5):
        services.take_snapshot(alice, today=today - dt.timedelta(days=days))
    page = client.get("/api/v1/portfolio/history?limit=2").json()
    assert [r["date"] for r in page["results"]] == [str(today), str(today - dt.timedelta(days=1))]
    page2 = client.get(page["next"]).json()
    assert [r["date"] for r in page2["results"]] == [str(today - dt.timedelta(days=d)) for d in (2, 3)]
    ranged = client.get(f"/api/v1/portfolio/history?from={today - dt.timedelta(days=3)}&to={today}").json()
    assert len(ranged["results"]) == 4 and ranged["next"] is None
    assert ranged["results"][0]["total_value"] == "999.900000"  # 950 + 0.499 x 100
    for query, field in (
        ("limit=0", "limit"),
        ("limit=x", "limit"),
        ("from=2026-13-01", "from"),
        ("to=yesterday", "to"),
        ("cursor=%00", "cursor"),
        ("from=2026-02-02&to=2026-02-01", "to"),
    ):
        response = client.get(f"/api/v1/portfolio/history?{query}")
        assert response.status_code == 400, query
        assert field in response.json()["error"]["details"], query
    assert client_for(bob).get("/api/v1/portfolio/history").json()["results"] == []


def test_valuation_currency_as_a_markets_base_is_always_at_cost_one(market):
    # USDT-TRY: the valuation currency is the base; TRY is valued by the fill's own price.
    factories.currency("TRY", 2, name="Lira")
    factories.market("USDT", "TRY", tick_size="0.01", lot_size="1", maker_fee="0", taker_fee="0")
    alice, bob = funded_trader(usdt="50"), funded_trader(usdt="1000")
    deposit(alice, "TRY", "10000")
    trade(bob, alice, side="buy", price="30.00", quantity="100", symbol="USDT-TRY")  # 3,000 TRY for 100 USDT
    trade(bob, alice, side="buy", price="40.00", quantity="100", symbol="USDT-TRY")  # 4,000 TRY for 100 USDT
    services.sync_positions(alice)
    usdt = Position.objects.get(user=alice, currency="USDT")
    assert (usdt.quantity, usdt.cost, usdt.unpriced, usdt.realized_pnl) == (D("250"), D("250"), False, 0)
    # TRY: deposited before any price (unknown cost); spent at 1/30 then 1/40 USDT a lira.
    got = assets(alice)["assets"]
    assert got["USDT"]["average_cost"] == "1.000000"
    assert got["TRY"]["price"] == "0.025000"  # 1/40, in at least USDT's 6 places
    assert got["TRY"]["total"] == "3000.00"


def test_valuation_in_btc_keeps_btc_at_cost_one(market, settings):
    settings.PORTFOLIO_VALUATION_CURRENCY = "BTC"
    alice, bob = funded_trader(usdt="100000"), funded_trader(btc="5", usdt="100000")
    trade(bob, alice, side="buy", price="40000.00", quantity="0.1")  # the market's first trade
    trade(bob, alice, side="buy", price="50000.00", quantity="0.1")
    btc = assets(alice)["assets"]["BTC"]
    assert (btc["total"], btc["average_cost"], btc["unrealized_pnl"]) == ("0.19960000", "1.00000000", "0.00000000")
    usdt = Position.objects.get(user=alice, currency="USDT")
    # 100,000 USDT deposited before any price: unknown cost; what left of it left at that average.
    assert usdt.unpriced and usdt.quantity == D("91000")


def test_a_quote_without_a_path_is_valued_by_the_fills_own_price(market):
    factories.currency("XYZ", 6, name="X")
    factories.market("BTC", "XYZ", tick_size="0.01", lot_size="0.0001", maker_fee="0", taker_fee="0")
    alice, bob = funded_trader(usdt="1000"), funded_trader(btc="2", usdt="1000")
    deposit(bob, "XYZ", "1000")
    trade(bob, alice, side="buy", price="100.00", quantity="1")  # 0.998 BTC for 100 USDT
    # alice sells 0.1 BTC for 0.5 XYZ, a currency without a price of its own: BTC was worth 100, so
    # the 0.5 XYZ were worth 10 (20 a unit).
    trade(bob, alice, side="sell", price="5.00", quantity="0.1", symbol="BTC-XYZ")
    got = assets(alice)["assets"]
    assert got["BTC"]["average_cost"] == str((D(100) / D("0.998")).quantize(D("1e-18")))
    assert got["BTC"]["realized_pnl"] == str((D(10) - D(100) * D("0.1") / D("0.998")).quantize(D("0.000001")))
    assert (got["XYZ"]["total"], got["XYZ"]["average_cost"]) == ("0.500000", "20.000000")


def test_selling_what_has_an_unknown_cost_realizes_nothing_and_says_so(market):
    alice, bob = funded_trader(usdt="1000"), funded_trader(btc="2")  # bob's BTC arrived before any price: cost unknown
    trade(bob, alice, side="buy", price="100.00", quantity="0.5")
    services.sync_positions(bob)
    position = Position.objects.get(user=bob, currency="BTC")
    assert (position.quantity, position.unpriced, position.realized_incomplete) == (D("1.5"), True, True)
    assert position.realized_pnl == 0
    row = assets(bob)["assets"]["BTC"]
    assert (row["average_cost"], row["unrealized_pnl"], row["value"]) == (None, None, "150.000000")


def test_staff_read_positions_and_snapshots_in_the_admin(market):
    from django.test import Client
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from apps.accounts.tests.conftest import totp_code
    from tests.factories import PASSWORD, UserFactory

    alice, bob = funded_trader(usdt="1000"), funded_trader(btc="2", usdt="1000")
    trade(bob, alice, side="buy", price="100.00", quantity="0.5")
    services.take_snapshot(alice)
    staff = UserFactory(is_staff=True, is_superuser=True)
    device = TOTPDevice.objects.create(user=staff, name="phone", confirmed=True)
    client = Client()
    client.post("/admin/login/", {"username": staff.username, "password": PASSWORD,
                                  "otp_device": device.persistent_id, "otp_token": totp_code(device)})  # fmt: skip
    positions = client.get("/admin/portfolio/position/?q=" + alice.username)
    assert positions.status_code == 200 and b"0.499" in positions.content
    snapshots = client.get("/admin/portfolio/snapshot/")
    assert snapshots.status_code == 200 and alice.username.encode() in snapshots.content
    position = Position.objects.filter(user=alice).first()
    assert client.get(f"/admin/portfolio/position/{position.pk}/change/").status_code == 200
    assert client.post(f"/admin/portfolio/position/{position.pk}/delete/").status_code == 403
