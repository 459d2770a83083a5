"""A slow chain node must not stall matching (issue 20): no chain call is made while account rows
that settlement locks (users', fees') are held, directly or behind a hot-wallet lock.

Each test puts a withdrawal or a sweep in flight against a node that takes seconds to answer, and
meanwhile a real matcher settles batches on BTC-USDT, every fill paying a fee into the BTC fee
account: none of them may wait more than a second."""

import threading
import time
from decimal import Decimal

import pytest
from django.db import connection

from apps.matching.testing import drain, matcher
from apps.wallets import custody, ledger, withdrawals
from apps.wallets.models import Account, Currency, CustodyTransfer, Withdrawal
from apps.wallets.simchain import SimTransaction, SimulatedChain
from apps.wallets.tests.test_withdrawals import address, fund, trusted, verified_user
from apps.wallets.verification import verify_ledger
from tests.factories import funded_trader, place

pytestmark = pytest.mark.django_db(transaction=True)
W = Withdrawal.Status


class SlowNode(SimulatedChain):
    """The simulated chain behind a node that answers a slow call ("balance", or "send:<kind>" for
    sends whose reference starts with that kind: "withdrawal", "custody") only once the test sets
    `release`, or after `delays[call]` seconds at most: a slow call lasts as long as the test needs,
    however busy the machine is."""

    delays: dict[str, float] = {}
    answering = threading.Event()  # set when a slow call has started
    release = threading.Event()  # set by the test when the slow calls may answer

    def _answer_slowly(self, call: str) -> None:
        delay = type(self).delays.get(call)
        if delay:
            type(self).answering.set()
            type(self).release.wait(delay)

    def balance(self, *, wallet: str, min_confirmations: int) -> Decimal:
        self._answer_slowly("balance")
        return super().balance(wallet=wallet, min_confirmations=min_confirmations)

    def send(self, *, wallet: str, to_address: str, amount: Decimal, reference: str) -> str:
        self._answer_slowly(f"send:{reference.split(':')[0]}")
        return super().send(wallet=wallet, to_address=to_address, amount=amount, reference=reference)


@pytest.fixture
def slow_node(settings, market):
    settings.WALLET_CHAIN_ADAPTERS = {"BTC": f"{__name__}.SlowNode", "*": "apps.wallets.simchain.SimulatedChain"}
    Currency.objects.filter(code="BTC").update(
        confirmations=2, withdrawal_fee=Decimal("0.0002"), min_withdrawal=Decimal("0.001"),
        auto_approve_limit=Decimal(5), limit_reference_price=Decimal(1000),
    )  # fmt: skip
    # The fee account before the hot wallet's: a transaction locking both (ascending ids) holds the
    # fee row while it waits for the hot one.
    ledger.system_account(Account.Kind.FEES, "BTC")
    SlowNode.delays, SlowNode.answering, SlowNode.release = {}, threading.Event(), threading.Event()
    yield SlowNode
    SlowNode.release.set()
    SlowNode.delays = {}


def approved_withdrawal(amount: str = "0.1") -> Withdrawal:
    user = verified_user()
    fund(user, "1")
    trusted(user)
    return withdrawals.request_withdrawal(user=user, currency_code="BTC", amount=Decimal(amount), address=address(),
                                          otp_code="backupaaa1")  # fmt: skip


def in_thread(target, results: list) -> threading.Thread:
    def run():
        try:
            results.append(target())
        except Exception as exc:  # noqa: BLE001 - asserted by the caller
            results.append(exc)
        finally:
            connection.close()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def settle_batches_while(busy: threading.Thread, node: type[SlowNode], seller=None, batches: int = 5) -> list[float]:
    """Settle `batches` batches of BTC-USDT fills while `busy` waits on the slow node; return how long
    each took (placing its orders excluded). Each fill pays the buyer's fee into the BTC fee account.
    Fails when a batch took a second or more, or when `busy` was done before the last batch."""
    seller, buyer = seller or funded_trader(btc="1"), funded_trader(usdt="100000")
    took = []
    with matcher(["BTC-USDT"]) as m:
        drain(m)  # the market's recovery, before anything is timed
        assert node.answering.wait(10), "the slow call never started"
        for _ in range(batches):
            place(seller, side="sell", type="limit", price="100.00", quantity="0.01")
            place(buyer, side="buy", type="limit", price="100.00", quantity="0.01")
            started = time.monotonic()
            drain(m)
            took.append(time.monotonic() - started)
        overlapped = busy.is_alive()
    node.release.set()  # the node answers now
    assert max(took) < 1, f"batches waited on the chain call: {took}"
    assert overlapped, "the chain call ended before the batches: nothing was tested"
    return took


@pytest.mark.parametrize("slow_call", ["send:withdrawal", "balance"])
def test_matching_goes_on_while_a_withdrawal_waits_on_a_slow_node(slow_node, slow_call):
    withdrawal = approved_withdrawal()
    slow_node.delays = {slow_call: 60}
    results = []
    sending = in_thread(lambda: withdrawals.send(withdrawal_id=withdrawal.pk), results)
    settle_batches_while(sending, slow_node)
    sending.join(30)
    assert results == ["sent"]
    withdrawal.refresh_from_db()
    assert withdrawal.status == W.SENT and withdrawal.txid
    assert SimTransaction.objects.filter(reference=f"withdrawal:{withdrawal.pk}").count() == 1
    assert ledger.system_account(Account.Kind.FEES, "BTC").available == Decimal("0.0002") + 5 * Decimal("0.00002")
    assert verify_ledger() == []


def test_a_sweep_waiting_on_a_slow_node_does_not_stall_matching_through_a_withdrawal(slow_node):
    Currency.objects.filter(code="BTC").update(hot_min=0, hot_target=Decimal("0.5"), hot_max=Decimal(1))
    withdrawal = approved_withdrawal()  # hot: 1 BTC, ledger and chain
    seller = funded_trader()
    fund(seller, "1")
    fund(funded_trader(), "2")  # hot: 4 BTC, above its maximum
    slow_node.delays = {"send:custody": 60}
    sweep_results, send_results = [], []
    sweeping = in_thread(lambda: custody.sweep(currency=Currency.objects.get(pk="BTC")), sweep_results)
    assert slow_node.answering.wait(10)
    sending = in_thread(lambda: withdrawals.send(withdrawal_id=withdrawal.pk), send_results)
    settle_batches_while(sweeping, slow_node, seller)
    # In this process the withdrawal's own chain calls queue behind the sweep's in the currency's
    # circuit breaker (pybreaker serializes calls per process; workers are separate processes), but
    # while it waits it holds no account row, so settlement never waits for it.
    sweeping.join(30)
    sending.join(30)
    assert (sweep_results[0].direction, send_results) == ("sweep", ["sent"])
    (sweep,) = CustodyTransfer.objects.all()
    # The sweep was decided first (0.5 hot target): 3.5 to cold; the withdrawal had the other 0.5.
    assert (sweep.status, sweep.amount) == (CustodyTransfer.Status.SENT, Decimal("3.5"))
    hot = ledger.system_account(Account.Kind.HOT, "BTC")
    assert hot.available == Decimal("0.4") and verify_ledger() == []
    SimulatedChain("BTC").mine(2)
    assert SimulatedChain("BTC").balance(wallet="hot", min_confirmations=2) == Decimal("0.4")


def test_two_sends_reading_a_slow_balance_at_once_never_send_short_on_chain(slow_node):
    """The chain holds less than the ledger says. Two withdrawals that each fit but together exceed
    the chain: their balance checks, made outside the account locks, must still see each other, so
    one goes and the other waits."""
    first, second = approved_withdrawal("0.55"), approved_withdrawal("0.55")  # hot: 2 BTC
    # The chain spent down to 1 BTC behind the ledger's back: 0.55 + 0.55 fit the ledger, not the chain.
    chain = SimulatedChain("BTC")
    chain.send(wallet="hot", to_address=address(), amount=Decimal(1), reference="elsewhere")
    chain.mine(2)
    slow_node.delays = {"balance": 1}
    results = []
    threads = [in_thread(lambda w=w: withdrawals.send(withdrawal_id=w.pk), results) for w in (first, second)]
    for thread in threads:
        thread.join(30)
    assert sorted(results) == ["sent", "waiting"]
    assert chain.balance(wallet="hot", min_confirmations=0) == Decimal("0.45")
    assert verify_ledger() == []
