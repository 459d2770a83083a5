"""Movements the ledger and the chain see at different times are no mismatch (issue 26): a sweep or a
refill is in transit on both sides until it confirms, at every block of its confirmations; one that
never confirms is clean until its deadline and a named stuck transfer after it. The same for a send
the chain made before the ledger posted it, a deposit confirmed and not credited, and a withdrawal
that never confirms."""

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone

from apps.wallets import chain_faults, custody, deposits, withdrawals
from apps.wallets.chain_faults import Faults
from apps.wallets.models import CustodyTransfer, Deposit, Withdrawal
from apps.wallets.reconciliation import reconcile, stuck_after
from apps.wallets.simchain import SimulatedChain
from apps.wallets.tests.test_withdrawals import trusted, verified_user
from tests import factories
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db
C = CustodyTransfer
CONFIRMATIONS = 6


@pytest.fixture
def eth(settings):
    settings.CHAIN_BLOCK_SECONDS = {"*": 15}
    settings.CHAIN_STUCK_FACTOR = 4  # 6 confirmations x 15 s x 4: stuck after 360 s
    return factories.currency("ETH", confirmations=CONFIRMATIONS, hot_min=Decimal(1), hot_target=Decimal(2),
                              hot_max=Decimal(3), withdrawal_fee=Decimal("0.001"), min_withdrawal=Decimal("0.01"),
                              auto_approve_limit=Decimal(5), limit_reference_price=Decimal(1000))  # fmt: skip


def fund(user, amount):
    deposits.simulate_deposit(user=user, currency_code="ETH", amount=Decimal(amount), confirmations=CONFIRMATIONS)
    deposits.process_deposits()


def clean(run):
    assert run.ok, run.mismatches
    return run.figures["ETH"]


def test_the_deadline_is_a_few_times_the_expected_confirmation_time(eth, settings):
    assert stuck_after(eth) == dt.timedelta(seconds=360)
    settings.CHAIN_BLOCK_SECONDS = {"*": 15, "ETH": 12}
    assert stuck_after(eth) == dt.timedelta(seconds=4 * 6 * 12)


def test_a_sweep_reconciles_clean_at_every_block_of_its_confirmations(eth):
    fund(UserFactory(), "10")
    assert custody.run_policy() == {"ETH": "swept"}  # 8 above the target of 2
    chain = SimulatedChain("ETH")
    for block in range(CONFIRMATIONS):  # 0 to 5 confirmations
        figures = clean(reconcile())
        assert Decimal(figures["in_transit"]) == Decimal(figures["chain_in_transit"]) == 8, block
        assert Decimal(figures["cold"]) == Decimal(figures["chain_cold"]) == 0
        custody.follow_transfers()  # as the follow task would, between blocks: books nothing early
        chain.mine(1)
    # Confirmed on chain (6 blocks); the follow task has not run since: in transit, still clean.
    figures = clean(reconcile())
    assert Decimal(figures["in_transit"]) == Decimal(figures["chain_in_transit"]) == 8
    assert custody.follow_transfers() == 1
    figures = clean(reconcile())
    assert Decimal(figures["cold"]) == Decimal(figures["chain_cold"]) == 8
    assert Decimal(figures["in_transit"]) == Decimal(figures["chain_in_transit"]) == 0
    (sweep,) = C.objects.all()
    assert sweep.status == C.Status.CONFIRMED and sweep.confirmations >= CONFIRMATIONS


def test_a_refill_reconciles_clean_at_every_block_of_its_confirmations(eth):
    fund(UserFactory(), "10")
    custody.run_policy()
    SimulatedChain("ETH").mine(CONFIRMATIONS)
    custody.follow_transfers()  # 2 hot, 8 cold
    refill = custody.request_refill_if_needed(currency=eth, amount=Decimal(3), requested_by=UserFactory(is_staff=True))
    custody.approve_refill(transfer_id=refill.pk, approver=UserFactory(is_staff=True))
    assert custody.execute_approved() == 1
    chain = SimulatedChain("ETH")
    for block in range(CONFIRMATIONS + 1):  # 0 to 6 confirmations, the follow task not run
        figures = clean(reconcile())
        assert Decimal(figures["in_transit"]) == Decimal(figures["chain_in_transit"]) == 3, block
        assert Decimal(figures["hot"]) == 2 and Decimal(figures["cold"]) == 5
        chain.mine(1)
    assert custody.follow_transfers() == 1
    figures = clean(reconcile())
    assert (Decimal(figures["hot"]), Decimal(figures["cold"]), Decimal(figures["in_transit"])) == (5, 5, 0)


def test_a_sweep_that_never_confirms_is_clean_until_its_deadline_then_a_named_stuck_transfer(eth):
    fund(UserFactory(), "10")
    chain_faults.set_faults(currency="ETH", faults=Faults(drop_broadcasts=True), actor=None, reason="drill")
    custody.run_policy()
    (sweep,) = C.objects.all()
    SimulatedChain("ETH").mine(50)
    assert custody.follow_transfers() == 0
    clean(reconcile())  # young: in transit on both sides
    C.objects.filter(pk=sweep.pk).update(sent_at=timezone.now() - dt.timedelta(seconds=350))
    clean(reconcile())  # 350 s: within 360
    C.objects.filter(pk=sweep.pk).update(sent_at=timezone.now() - dt.timedelta(seconds=400))
    run = reconcile()
    assert not run.ok
    (stuck,) = run.mismatches  # the balances still agree: only the transfer is named
    assert stuck["check"] == "stuck transfer" and stuck["subject"] == f"ETH custody #{sweep.pk}"
    assert stuck["detail"].startswith(f"sweep of 8 ETH, txid {sweep.txid}: 0 of 6 confirmations for 4")
    assert "deadline 360 s" in stuck["detail"]
    # The treasury rebroadcasts it: it confirms, arrives, and reconciliation is clean again.
    chain_faults.set_faults(currency="ETH", faults=Faults(), actor=None, reason="")
    assert chain_faults.rebroadcast(currency="ETH", actor=None) == 1
    SimulatedChain("ETH").mine(CONFIRMATIONS)
    assert custody.follow_transfers() == 1
    clean(reconcile())


def test_a_send_the_chain_made_before_the_ledger_posted_it_counts_as_still_in_hot(eth):
    """A crash between the node's answer and the commit: on chain the coins left hot, the ledger
    posts it when the next run resumes the send. Clean until the deadline, stuck after, clean once
    resumed."""
    user = verified_user()
    fund(user, "1")
    trusted(user, to=SimulatedChain("ETH").wallet_address("external"), currency="ETH")
    withdrawal = withdrawals.request_withdrawal(user=user, currency_code="ETH", amount=Decimal("0.5"),
                                                address=SimulatedChain("ETH").wallet_address("external"),
                                                otp_code="backupaaa1")  # fmt: skip
    assert withdrawals._reserve(withdrawal.pk) is None
    SimulatedChain("ETH").send(wallet="hot", to_address=withdrawal.address, amount=withdrawal.amount,
                               reference=f"withdrawal:{withdrawal.pk}")  # fmt: skip
    figures = clean(reconcile())
    assert Decimal(figures["sent_unbooked"]) == Decimal("0.5")
    Withdrawal.objects.filter(pk=withdrawal.pk).update(send_started_at=timezone.now() - dt.timedelta(hours=1))
    run = reconcile()
    assert [m["subject"] for m in run.mismatches] == [f"ETH withdrawal #{withdrawal.pk}"]
    assert "sent on chain, not booked" in run.mismatches[0]["detail"]
    assert withdrawals.send(withdrawal_id=withdrawal.pk) == "sent"  # resumed: the same txid, posted
    assert Decimal(clean(reconcile())["sent_unbooked"]) == 0


def test_a_deposit_confirmed_and_not_credited_past_its_deadline_is_stuck(eth):
    user = UserFactory()
    deposits.simulate_deposit(user=user, currency_code="ETH", amount=Decimal(2), confirmations=0)
    deposits.scan_deposits(currency=eth)  # detected, not confirmed
    SimulatedChain("ETH").mine(CONFIRMATIONS)
    clean(reconcile())  # confirmed on chain, the deposit task comes next
    Deposit.objects.update(detected_at=timezone.now() - dt.timedelta(hours=1))
    run = reconcile()
    (stuck,) = run.mismatches
    assert stuck["check"] == "stuck transfer" and "not credited" in stuck["detail"]
    deposits.process_deposits()
    clean(reconcile())


def test_a_withdrawal_that_never_confirms_is_reported_after_its_deadline(eth):
    user = verified_user()
    fund(user, "1")
    to = SimulatedChain("ETH").wallet_address("external")
    trusted(user, to=to, currency="ETH")
    chain_faults.set_faults(currency="ETH", faults=Faults(drop_broadcasts=True), actor=None, reason="drill")
    withdrawal = withdrawals.request_withdrawal(user=user, currency_code="ETH", amount=Decimal("0.5"), address=to,
                                                otp_code="backupaaa1")  # fmt: skip
    assert withdrawals.send(withdrawal_id=withdrawal.pk) == "sent"
    SimulatedChain("ETH").mine(20)
    withdrawals.follow_confirmations()
    clean(reconcile())
    Withdrawal.objects.filter(pk=withdrawal.pk).update(sent_at=timezone.now() - dt.timedelta(hours=1))
    (stuck,) = reconcile().mismatches
    withdrawal.refresh_from_db()
    assert stuck["subject"] == f"ETH withdrawal #{withdrawal.pk}" and withdrawal.txid in stuck["detail"]


def test_a_node_that_does_not_answer_is_a_mismatch_of_its_currency(eth, settings):
    fund(UserFactory(), "1")
    settings.SIMCHAIN_FAULTS = {"ETH": {"unreachable": True}}
    run = reconcile()
    assert not run.ok
    (down,) = run.mismatches
    assert (down["check"], down["subject"]) == ("chain", "ETH")
    assert down["detail"] == "the chain could not be asked: the ETH node did not answer (fault mode: unreachable)"
    assert Decimal(run.figures["ETH"]["users"]) == 1 and "chain_hot" not in run.figures["ETH"]
