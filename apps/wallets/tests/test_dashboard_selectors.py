"""The treasury dashboard's selectors (apps.wallets.selectors) against hand-computed values."""

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone

from apps.wallets import selectors
from apps.wallets.models import CustodyTransfer, ReconciliationRun, Withdrawal
from tests import factories

pytestmark = pytest.mark.django_db
D = Decimal


@pytest.fixture
def currencies():
    band = {"hot_min": D(1), "hot_target": D(5), "hot_max": D(10)}
    return {code: factories.currency(code, **band) for code in ("BTC", "ETH", "USDT")}


def test_hot_wallet_bands(currencies):
    trader = factories.user()
    factories.deposit(trader, "BTC", "0.5")  # below 1
    factories.deposit(trader, "ETH", "12")  # above 10
    factories.deposit(trader, "USDT", "5")  # within
    rows = {r["currency"]: (r["balance"], r["position"]) for r in selectors.hot_wallet_bands()}
    assert rows == {"BTC": (D("0.5"), "below"), "ETH": (D(12), "above"), "USDT": (D(5), "within")}


def test_withdrawals_in_review_and_refills(currencies):
    trader, btc = factories.user(), currencies["BTC"]
    times = []
    for status in ("review", "review", "approved"):
        w = Withdrawal.objects.create(user=trader, currency=btc, address="a", amount=D(1), fee=D(0),
                                      reference_value=D(0), status=status)  # fmt: skip
        times.append(w.created_at)
    assert selectors.withdrawals_in_review() == {"count": 2, "oldest": times[0]}
    CustodyTransfer.objects.create(currency=btc, direction="refill", amount=D(4), status="requested")
    CustodyTransfer.objects.create(currency=currencies["ETH"], direction="refill", amount=D(1), status="approved")
    CustodyTransfer.objects.create(currency=btc, direction="sweep", amount=D(1), status="sent")
    assert [(r["currency_id"], r["amount"]) for r in selectors.refills_awaiting_approval()] == [("BTC", D(4))]


FIGURES = {"users": "10", "fees": "1", "hot": "6", "cold": "5", "in_transit": "0", "chain_hot": "6",
           "chain_cold": "5", "sandbox_issuance": "0"}  # fmt: skip


def test_last_reconciliation_per_currency():
    assert selectors.last_reconciliation() is None
    ReconciliationRun.objects.create(ok=True, finished_at=timezone.now(), figures={"BTC": FIGURES})
    ReconciliationRun.objects.create(ok=False, figures={})  # unfinished: ignored
    latest = ReconciliationRun.objects.create(
        ok=False, finished_at=timezone.now(),
        figures={"BTC": FIGURES, "ETH": {**FIGURES, "users": "9.5", "chain_cold": "4"}},
        mismatches=[{"check": "solvency", "subject": "ETH", "detail": "..."},
                    {"check": "custody", "subject": "ETH cold", "detail": "..."},
                    {"check": "ledger invariant 2", "subject": "transaction 7", "detail": "..."}],
    )  # fmt: skip
    result = selectors.last_reconciliation()
    assert result["id"] == latest.pk and not result["ok"]
    btc, eth = result["currencies"]
    assert (btc["currency"], btc["matched"], btc["differences"]) == ("BTC", True, {})
    # ETH: owed 9.5 + 1 = 10.5, held 6 + 5 = 11 -> -0.5; cold 5 against the chain's 4 -> 1.
    assert (eth["matched"], eth["differences"]) == (False, {"solvency": D("-0.5"), "cold": D(1)})
    assert len(eth["mismatches"]) == 2 and [m["check"] for m in result["other"]] == ["ledger invariant 2"]


def test_hot_wallet_history_is_the_runs_of_the_window_oldest_first():
    now = timezone.now()
    for hours, hot in ((30, "1"), (20, "2"), (10, "3")):
        run = ReconciliationRun.objects.create(ok=True, finished_at=now, figures={"BTC": {**FIGURES, "hot": hot}})
        ReconciliationRun.objects.filter(pk=run.pk).update(started_at=now - dt.timedelta(hours=hours))
    history = selectors.hot_wallet_history(now - dt.timedelta(days=1))
    assert [value for _, value in history["BTC"]] == [D(2), D(3)]
