"""Concurrent ledger writes with real threads and connections against real PostgreSQL."""

import threading
from decimal import Decimal

import pytest
from django.db import connection

from apps.wallets import ledger
from apps.wallets.exceptions import InsufficientFunds
from apps.wallets.models import Transaction
from apps.wallets.tests.conftest import deposit, transfer
from apps.wallets.verification import verify_ledger
from tests import factories
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db(transaction=True)


def run_threads(*targets):
    errors = []

    def wrap(target):
        try:
            target()
        except Exception as exc:  # noqa: BLE001 - collected and asserted on below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=wrap, args=(t,)) for t in targets]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return errors


def test_opposite_transfers_never_deadlock_and_conserve_money():
    btc = factories.currency("BTC")
    alice, bob = UserFactory(), UserFactory()
    deposit(alice, btc, "100", "a")
    deposit(bob, btc, "100", "b")

    def a_to_b():
        for i in range(40):
            transfer(alice, bob, btc, "1", f"ab-{i}")

    def b_to_a():
        for i in range(40):
            transfer(bob, alice, btc, "0.5", f"ba-{i}")

    assert run_threads(a_to_b, b_to_a) == []
    a, b = ledger.user_account(alice, btc), ledger.user_account(bob, btc)
    assert (a.available, b.available) == (Decimal(80), Decimal(120))
    assert verify_ledger() == []


def test_two_holds_racing_for_one_balance_cannot_both_win():
    btc = factories.currency("BTC")
    alice = UserFactory()
    deposit(alice, btc, "1", "a")
    account = ledger.user_account(alice, btc)
    barrier = threading.Barrier(4)

    def withdraw(n):
        def run():
            barrier.wait()
            ledger.hold(account=account, amount=Decimal("0.6"), owner=("withdrawal", str(n)))

        return run

    errors = run_threads(*(withdraw(n) for n in range(4)))
    assert len(errors) == 3 and all(isinstance(e, InsufficientFunds) for e in errors)
    account.refresh_from_db()
    assert (account.available, account.locked) == (Decimal("0.4"), Decimal("0.6"))
    assert verify_ledger() == []


def test_the_same_idempotency_key_posted_concurrently_applies_once():
    btc = factories.currency("BTC")
    alice = UserFactory()
    barrier = threading.Barrier(5)

    def credit():
        barrier.wait()
        deposit(alice, btc, "1", "the-same-deposit")

    assert run_threads(*(credit for _ in range(5))) == []
    assert Transaction.objects.filter(idempotency_key="the-same-deposit").count() == 1
    assert ledger.user_account(alice, btc).available == Decimal(1)
    assert verify_ledger() == []
