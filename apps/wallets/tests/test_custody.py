"""Hot/cold custody: policy sweeps, refills with four-eyes approval, and a sweep racing a withdrawal."""

import threading
from decimal import Decimal

import pytest
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from apps.wallets import custody, ledger, withdrawals
from apps.wallets.exceptions import CustodyActionRefused
from apps.wallets.models import Account, CustodyTransfer, Withdrawal
from apps.wallets.reconciliation import reconcile
from apps.wallets.simchain import SimulatedChain
from apps.wallets.tests.test_withdrawals import address, fund, trusted, verified_user
from apps.wallets.verification import verify_ledger
from tests import factories
from tests.factories import UserFactory

C = CustodyTransfer


def make_btc(**policy):
    values = {"hot_min": Decimal(1), "hot_target": Decimal(2), "hot_max": Decimal(3), **policy}
    fees = {"withdrawal_fee": Decimal("0.0002"), "min_withdrawal": Decimal("0.001"), "auto_approve_limit": Decimal(5)}
    return factories.currency("BTC", confirmations=2, limit_reference_price=Decimal(1000), **fees, **values)


def hot_and_cold(btc):
    return holdings(btc)[:2]


def holdings(btc):
    """The ledger's hot, cold and custody-in-transit balances."""
    kinds = (Account.Kind.HOT, Account.Kind.COLD, Account.Kind.CUSTODY_IN_TRANSIT)
    accounts = [ledger.system_account(kind, btc) for kind in kinds]
    for account in accounts:
        account.refresh_from_db()
    return tuple(account.available for account in accounts)


@pytest.mark.django_db
def test_hot_above_its_maximum_is_swept_down_to_target():
    btc = make_btc()
    fund(UserFactory(), "5")
    assert custody.run_policy() == {"BTC": "swept"}
    # Sent: in transit, in the ledger as on the chain, until the chain confirms it.
    assert holdings(btc) == (Decimal(2), 0, Decimal(3))
    assert reconcile().ok
    chain = SimulatedChain("BTC")
    chain.mine(2)
    assert chain.balance(wallet="cold", min_confirmations=2) == Decimal(3)
    assert reconcile().ok  # confirmed on chain, not booked yet: still clean
    assert custody.follow_transfers() == 1
    assert holdings(btc) == (Decimal(2), Decimal(3), 0)
    assert custody.run_policy() == {}
    assert reconcile().ok


@pytest.mark.django_db
def test_a_refill_needs_a_second_person():
    btc = make_btc()
    fund(UserFactory(), "5")
    custody.run_policy()  # sweep to 2 hot, 3 cold
    SimulatedChain("BTC").mine(2)
    custody.follow_transfers()
    alice_ops, bob_ops = UserFactory(is_staff=True), UserFactory(is_staff=True)
    refill = custody.request_refill_if_needed(currency=btc, requested_by=alice_ops, amount=Decimal("1.5"))
    assert custody.request_refill_if_needed(currency=btc, requested_by=bob_ops, amount=Decimal(1)) is None  # one open
    with pytest.raises(CustodyActionRefused):
        custody.approve_refill(transfer_id=refill.pk, approver=alice_ops)
    assert custody.execute_approved() == 0
    custody.approve_refill(transfer_id=refill.pk, approver=bob_ops)
    assert custody.execute_approved() == 1
    refill.refresh_from_db()
    assert refill.status == C.Status.SENT and holdings(btc) == (Decimal(2), Decimal("1.5"), Decimal("1.5"))
    # On its way, the refill counts towards hot's minimum: no second request.
    assert custody.request_refill_if_needed(currency=btc) is None
    SimulatedChain("BTC").mine(2)
    assert custody.follow_transfers() == 1
    refill.refresh_from_db()
    assert refill.status == C.Status.CONFIRMED and holdings(btc) == (Decimal("3.5"), Decimal("1.5"), 0)
    assert reconcile().ok


@pytest.mark.django_db
def test_the_database_refuses_self_approval_too():
    btc = make_btc()
    ops = UserFactory(is_staff=True)
    with pytest.raises(IntegrityError), transaction.atomic():
        C.objects.create(
            currency=btc, direction="refill", amount=1, status="approved", requested_by=ops, approved_by=ops
        )


@pytest.mark.django_db
def test_hot_below_its_minimum_raises_a_refill_request():
    make_btc()
    fund(UserFactory(), "0.5")
    assert custody.run_policy() == {"BTC": "refill requested"}
    request = C.objects.get()
    assert (request.direction, request.status, request.requested_by) == ("refill", "requested", None)
    assert request.amount == Decimal("1.5")


@pytest.mark.django_db(transaction=True)
def test_a_sweep_racing_a_withdrawal_keeps_every_balance_whole():
    btc = make_btc(hot_min=Decimal(0), hot_target=Decimal(0), hot_max=Decimal("0.5"))
    user = verified_user()
    fund(user, "1")
    trusted(user)
    withdrawal = withdrawals.request_withdrawal(user=user, currency_code="BTC", amount=Decimal("0.8"),
                                                address=address(), otp_code="backupaaa1")  # fmt: skip
    barrier = threading.Barrier(2)
    errors = []

    def run(target):
        def go():
            try:
                barrier.wait()
                target()
            except Exception as exc:  # noqa: BLE001 - asserted below
                errors.append(exc)
            finally:
                connection.close()

        return go

    threads = [threading.Thread(target=run(lambda: custody.sweep(currency=btc))),
               threading.Thread(target=run(withdrawals.send_approved))]  # fmt: skip
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    hot, cold, moving = holdings(btc)
    assert hot >= 0 and cold >= 0
    withdrawal.refresh_from_db()
    # Either the withdrawal went first (0.2 left, nothing to sweep) or the sweep did (it waits).
    assert (withdrawal.status, hot, cold, moving) in {(Withdrawal.Status.SENT, Decimal("0.2"), 0, 0),
                                                      (Withdrawal.Status.APPROVED, 0, 0, Decimal(1))}  # fmt: skip
    SimulatedChain("BTC").mine(2)
    assert verify_ledger() == [] and reconcile().ok


@pytest.mark.django_db
def test_a_refill_never_lands_on_a_users_deposit_address():
    btc = make_btc()
    first = UserFactory()
    fund(first, "5")  # the first deposit address ever made
    custody.run_policy()  # sweep 3 to cold
    SimulatedChain("BTC").mine(2)
    custody.follow_transfers()
    refill = custody.request_refill_if_needed(currency=btc, amount=Decimal(1))
    custody.approve_refill(transfer_id=refill.pk, approver=UserFactory(is_staff=True))
    custody.execute_approved()
    SimulatedChain("BTC").mine(2)
    from apps.wallets import deposits

    deposits.process_deposits()
    assert ledger.user_account(first, btc).available == Decimal(5)
    assert reconcile().ok


@pytest.mark.django_db
def test_reconcile_between_a_block_and_the_deposit_task_is_clean():
    make_btc()
    user = UserFactory()
    fund(user, "1")
    from apps.wallets import deposits

    deposits.simulate_deposit(user=user, currency_code="BTC", amount=Decimal("0.3"), confirmations=2)
    run = reconcile()  # confirmed on chain, not credited yet
    assert run.ok, run.mismatches
    assert Decimal(run.figures["BTC"]["deposits_confirmed_uncredited"]) == Decimal("0.3")


@pytest.mark.django_db
def test_a_sweep_never_takes_the_chain_coins_a_withdrawal_in_flight_counts_on():
    """The chain holds less than the ledger (coins left behind its back), and a withdrawal's send has
    started (reserved, not yet on chain). A sweep that fits the ledger net of that withdrawal, and the
    chain net of only what was posted meanwhile, would leave the withdrawal short on chain: it is
    dropped instead, and the withdrawal goes out whole."""
    btc = make_btc(hot_min=Decimal(0), hot_target=Decimal(0), hot_max=Decimal("0.5"))
    user = verified_user()
    fund(user, "2")
    trusted(user)
    withdrawal = withdrawals.request_withdrawal(user=user, currency_code="BTC", amount=Decimal(1),
                                                address=address(), otp_code="backupaaa1")  # fmt: skip
    assert withdrawals._reserve(withdrawal.pk) is None  # step 1 of send: in flight from now on
    chain = SimulatedChain("BTC")
    chain.send(wallet="hot", to_address=address(), amount=Decimal("0.8"), reference="elsewhere")
    chain.mine(2)  # chain 1.2, ledger 2 of which 1 promised
    sweep = C.objects.create(currency=btc, direction=C.Direction.SWEEP, amount=Decimal("0.9"), status=C.Status.APPROVED)
    assert custody.execute(transfer_id=sweep.pk) is False
    sweep.refresh_from_db()
    assert sweep.status == C.Status.FAILED and sweep.failure_reason.startswith("superseded")
    assert chain.balance(wallet="hot", min_confirmations=0) == Decimal("1.2")
    assert withdrawals.send(withdrawal_id=withdrawal.pk) == "sent"
    assert chain.balance(wallet="hot", min_confirmations=0) == Decimal("0.2")
    assert verify_ledger() == []


@pytest.mark.django_db
def test_the_policys_own_refill_request_is_withdrawn_once_hot_is_back_above_its_minimum():
    btc = make_btc()
    ops = UserFactory(is_staff=True)
    assert custody.run_policy() == {"BTC": "refill requested"}  # hot 0, minimum 1
    asked_by_staff = C.objects.create(currency=factories.currency("ETH"), direction="refill", amount=1,
                                      status="requested", requested_by=ops)  # fmt: skip
    fund(UserFactory(), "1.5")  # hot 1.5: at its minimum again, not above its maximum
    assert custody.run_policy() == {"BTC": "refill request withdrawn"}
    (withdrawn,) = C.objects.filter(currency=btc)
    assert withdrawn.status == C.Status.REJECTED and withdrawn.failure_reason.startswith("no longer needed: hot 1.5")
    asked_by_staff.refresh_from_db()
    assert asked_by_staff.status == C.Status.REQUESTED  # staff decide their own requests
    assert custody.run_policy() == {}


@pytest.mark.django_db
def test_a_transfer_the_chain_does_not_know_does_not_stop_the_others_from_arriving():
    btc = make_btc()
    fund(UserFactory(), "5")
    custody.run_policy()  # a sweep of 3, sent
    lost = C.objects.create(currency=btc, direction="sweep", amount=1, status="sent", txid="f" * 64,
                            sent_at=timezone.now())  # fmt: skip
    SimulatedChain("BTC").mine(2)
    assert custody.follow_transfers() == 1  # the real sweep arrived
    lost.refresh_from_db()
    assert lost.status == C.Status.SENT
    (unknown,) = [m for m in reconcile().mismatches if m["check"] == "stuck transfer"]
    assert unknown["subject"] == f"BTC custody #{lost.pk}" and "unknown to the chain" in unknown["detail"]
