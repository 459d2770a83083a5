"""The ledger's guarantees: balanced, never negative, idempotent, holds, and verify_ledger."""

from decimal import Decimal

import pytest
from django.db import DatabaseError, connection, transaction

from apps.wallets import ledger
from apps.wallets.exceptions import InsufficientFunds, InvalidAmount, UnbalancedTransaction
from apps.wallets.models import Account, Entry, Hold, Transaction
from apps.wallets.tests.conftest import deposit, transfer
from apps.wallets.verification import verify_ledger
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def balances(user, currency):
    account = ledger.user_account(user, currency)
    account.refresh_from_db()
    return account.available, account.locked


def test_a_deposit_credits_the_user_and_the_hot_wallet(btc):
    alice = UserFactory()
    deposit(alice, btc, "1.5", "dep-1")
    assert balances(alice, btc) == (Decimal("1.5"), 0)
    hot = ledger.system_account(Account.Kind.HOT, btc)
    hot.refresh_from_db()
    assert hot.available == Decimal("1.5")
    assert verify_ledger() == []


def test_posting_the_same_key_twice_is_a_no_op(btc):
    alice = UserFactory()
    first = deposit(alice, btc, "1", "dep-same")
    second = deposit(alice, btc, "1", "dep-same")
    assert first.pk == second.pk
    assert balances(alice, btc) == (Decimal(1), 0)
    assert Transaction.objects.count() == 1


def test_a_transfer_beyond_the_balance_is_refused_and_changes_nothing(btc):
    alice, bob = UserFactory(), UserFactory()
    deposit(alice, btc, "1", "dep")
    with pytest.raises(InsufficientFunds):
        transfer(alice, bob, btc, "1.00000001", "t1")
    assert balances(alice, btc) == (Decimal(1), 0) and balances(bob, btc) == (0, 0)
    assert not Transaction.objects.filter(idempotency_key="t1").exists()


@pytest.mark.parametrize("amount", ["0.000000001", "0"])
def test_over_precise_or_zero_amounts_are_refused(btc, amount):
    alice, bob = UserFactory(), UserFactory()
    deposit(alice, btc, "1", "dep")
    with pytest.raises(InvalidAmount):
        transfer(alice, bob, btc, amount, "t")


def test_unbalanced_legs_are_refused(btc):
    alice = UserFactory()
    with pytest.raises(UnbalancedTransaction):
        ledger.post(
            kind="adjustment", idempotency_key="x", legs=[ledger.Leg(ledger.user_account(alice, btc), Decimal(1))]
        )


def test_the_database_refuses_an_unbalanced_insert(btc):
    alice = UserFactory()
    account = ledger.user_account(alice, btc)
    fees = ledger.system_account("fees", btc)
    with pytest.raises(DatabaseError), transaction.atomic():
        txn = Transaction.objects.create(kind="adjustment", idempotency_key="raw")
        Entry.objects.create(transaction=txn, account=account, currency=btc, amount=Decimal(5))
    # A balanced multi-row insert (what the ledger and the matcher's COPY do) is accepted.
    with transaction.atomic():
        txn = Transaction.objects.create(kind="adjustment", idempotency_key="raw-balanced")
        Entry.objects.bulk_create([
            Entry(transaction=txn, account=account, currency=btc, amount=Decimal(5)),
            Entry(transaction=txn, account=fees, currency=btc, amount=Decimal(-5)),
        ])  # fmt: skip
        with connection.cursor() as cursor:
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")


def test_the_database_refuses_an_entry_in_another_currency_than_its_account(btc, usdt):
    alice, bob = UserFactory(), UserFactory()
    alice_btc, bob_btc = ledger.user_account(alice, btc), ledger.user_account(bob, btc)
    # Balanced per currency, but USDT entries on BTC accounts: one (account, currency) foreign key
    # refuses them; and, as the single key on the account did, an account that does not exist.
    for currency, other in ((usdt, bob_btc.pk), (btc, 10**12)):
        with pytest.raises(DatabaseError), transaction.atomic():
            txn = Transaction.objects.create(kind="adjustment", idempotency_key=f"raw-{other}")
            Entry.objects.bulk_create([
                Entry(transaction=txn, account_id=alice_btc.pk, currency=currency, amount=Decimal(5)),
                Entry(transaction=txn, account_id=other, currency=currency, amount=Decimal(-5)),
            ])  # fmt: skip
            with connection.cursor() as cursor:
                cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    assert not Entry.objects.exists()


def test_entries_and_transactions_are_append_only(btc):
    alice = UserFactory()
    txn = deposit(alice, btc, "1", "dep")
    with pytest.raises(DatabaseError), transaction.atomic():
        Entry.objects.filter(transaction=txn).update(amount=Decimal(2))
    with pytest.raises(DatabaseError), transaction.atomic():
        Transaction.objects.filter(pk=txn.pk).delete()


def test_the_database_refuses_a_negative_balance(btc):
    alice = UserFactory()
    account = ledger.user_account(alice, btc)
    with pytest.raises(DatabaseError), transaction.atomic():
        Account.objects.filter(pk=account.pk).update(available=Decimal(-1))


def test_holds_lock_release_and_consume(btc):
    alice = UserFactory()
    deposit(alice, btc, "2", "dep")
    account = ledger.user_account(alice, btc)
    held = ledger.hold(account=account, amount=Decimal("1.5"), owner=("order", "7"))
    again = ledger.hold(account=account, amount=Decimal("1.5"), owner=("order", "7"))
    assert again.pk == held.pk and balances(alice, btc) == (Decimal("0.5"), Decimal("1.5"))
    with pytest.raises(InsufficientFunds):
        ledger.hold(account=account, amount=Decimal(1), owner=("order", "8"))
    ledger.release(hold_id=held.pk, amount=Decimal("0.5"), step="partial")
    assert balances(alice, btc) == (Decimal(1), Decimal(1))
    fees = ledger.system_account(Account.Kind.FEES, btc)
    ledger.consume(hold_id=held.pk, legs_out=[ledger.Leg(fees, Decimal(1))], kind="fee", idempotency_key="c1")
    held.refresh_from_db()
    assert held.status == Hold.Status.CONSUMED and balances(alice, btc) == (Decimal(1), 0)
    assert verify_ledger() == []


def test_verify_ledger_reports_a_corrupted_balance(btc):
    alice = UserFactory()
    deposit(alice, btc, "1", "dep")
    account = ledger.user_account(alice, btc)
    Account.objects.filter(pk=account.pk).update(available=Decimal("1.1"))  # money invented outside the ledger
    violations = verify_ledger()
    assert {v.invariant for v in violations} == {2, 3}
    assert any(f"account {account.pk}" in v.subject for v in violations)


def test_verify_ledger_reports_locked_without_holds(btc):
    alice = UserFactory()
    deposit(alice, btc, "1", "dep")
    account = ledger.user_account(alice, btc)
    ledger.hold(account=account, amount=Decimal(1), owner=("withdrawal", "1"))
    Hold.objects.filter(account=account).update(status=Hold.Status.RELEASED)  # a hold lost its owner
    assert [v.invariant for v in verify_ledger()] == [4]


def test_verify_ledger_command_exit_status(btc):
    from django.core.management import CommandError, call_command

    alice = UserFactory()
    deposit(alice, btc, "1", "dep")
    call_command("verify_ledger")
    Account.objects.filter(pk=ledger.user_account(alice, btc).pk).update(available=Decimal(3))
    with pytest.raises(CommandError, match="violation"):
        call_command("verify_ledger")


def test_repeating_a_partial_release_moves_nothing_twice(btc):
    alice = UserFactory()
    deposit(alice, btc, "1", "dep")
    held = ledger.hold(account=ledger.user_account(alice, btc), amount=Decimal(1), owner=("order", "1"))
    ledger.release(hold_id=held.pk, amount=Decimal("0.3"), step="fill-1")
    ledger.release(hold_id=held.pk, amount=Decimal("0.3"), step="fill-1")
    held.refresh_from_db()
    assert held.amount == Decimal("0.7") and balances(alice, btc) == (Decimal("0.3"), Decimal("0.7"))
    assert verify_ledger() == []


def test_an_idempotency_key_reused_for_another_kind_is_refused(btc):
    alice = UserFactory()
    deposit(alice, btc, "1", "same-key")
    with pytest.raises(UnbalancedTransaction):
        ledger.post(kind="transfer", idempotency_key="same-key",
                    legs=[ledger.Leg(ledger.user_account(alice, btc), Decimal(-1)),
                          ledger.Leg(ledger.user_account(UserFactory(), btc), Decimal(1))])  # fmt: skip


def test_currency_policy_amounts_must_fit_its_precision():
    from django.core.exceptions import ValidationError

    from apps.wallets.models import Currency

    currency = Currency(code="XBT", name="x", decimals=8, withdrawal_fee=Decimal("0.000000001"))
    with pytest.raises(ValidationError) as info:
        currency.full_clean()
    assert "withdrawal_fee" in info.value.message_dict
