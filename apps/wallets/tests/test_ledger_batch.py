"""`ledger.post_batch`, the ledger's writer for the matcher's settlement: many postings in the
caller's transaction, balanced, on liability accounts only, never negative, each key once."""

from decimal import Decimal

import psycopg
import pytest
from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from apps.wallets import ledger
from apps.wallets.exceptions import InvalidAmount, UnbalancedTransaction
from apps.wallets.models import Account, Entry, Transaction
from apps.wallets.tests.conftest import deposit
from apps.wallets.verification import verify_ledger
from tests import factories
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

AVAILABLE, LOCKED = Entry.Bucket.AVAILABLE, Entry.Bucket.LOCKED


def _post(postings):
    with transaction.atomic(), connection.cursor() as cursor:
        return ledger.post_batch(cursor, postings, at=timezone.now())


def _state():
    return (Transaction.objects.count(), Entry.objects.count(),
            sorted(Account.objects.values_list("pk", "available", "locked")))  # fmt: skip


def _violations():
    """verify_ledger, but for locked amounts without hold rows: the matcher's settlement writes its
    holds itself (this tests the ledger's half alone)."""
    return [v for v in verify_ledger() if "live holds" not in v.detail]


def _funded(btc, amount="10"):
    user = UserFactory()
    deposit(user, btc, amount, f"fund-{user.pk}")
    return ledger.user_account(user, btc)


def test_postings_write_their_transactions_entries_and_balances(btc):
    alice, bob = _funded(btc), _funded(btc)
    fees = ledger.system_account(Account.Kind.FEES, btc)
    postings = [
        ledger.Posting("trade", "trade:1", "trade", "1", [(alice.pk, "BTC", AVAILABLE, Decimal("-1.5")),
                                                        (bob.pk, "BTC", AVAILABLE, Decimal("1.49")),
                                                        (fees.pk, "BTC", AVAILABLE, Decimal("0.01"))], "BTC-USDT"),
        ledger.Posting("hold", "hold:x", "order", "7", [(bob.pk, "BTC", AVAILABLE, Decimal("-2")),
                                                      (bob.pk, "BTC", LOCKED, Decimal("2"))]),
    ]  # fmt: skip

    balances = _post(postings)

    assert balances == {alice.pk: (Decimal("8.5"), 0), bob.pk: (Decimal("9.49"), 2), fees.pk: (Decimal("0.01"), 0)}
    trade = Transaction.objects.get(idempotency_key="trade:1")
    assert (trade.kind, trade.reference_type, trade.reference_id, trade.memo) == ("trade", "trade", "1", "BTC-USDT")
    assert trade.entries.count() == 3
    assert Transaction.objects.get(idempotency_key="hold:x").entries.count() == 2
    assert _violations() == []


def test_an_unbalanced_posting_is_refused_before_anything_is_written(btc):
    alice, bob = _funded(btc), _funded(btc)
    before = _state()
    legs = [(alice.pk, "BTC", AVAILABLE, Decimal("-1")), (bob.pk, "BTC", AVAILABLE, Decimal("0.9"))]
    with pytest.raises(UnbalancedTransaction):
        _post([ledger.Posting("trade", "trade:2", "trade", "2", legs)])
    assert _state() == before


def test_a_leg_on_an_asset_account_fails_the_whole_batch(btc):
    alice = _funded(btc)
    hot = ledger.system_account(Account.Kind.HOT, btc)
    before = _state()
    legs = [(alice.pk, "BTC", AVAILABLE, Decimal("-1")), (hot.pk, "BTC", AVAILABLE, Decimal("1"))]
    with pytest.raises(InvalidAmount):
        _post([ledger.Posting("trade", "trade:3", "trade", "3", legs)])
    assert _state() == before


def test_a_balance_below_zero_fails_the_whole_batch(btc):
    alice, bob = _funded(btc, "1"), _funded(btc)
    before = _state()
    with pytest.raises(IntegrityError):
        _post([
            ledger.Posting("trade", "trade:4", "trade", "4", [(bob.pk, "BTC", AVAILABLE, Decimal("-1")),
                                                              (alice.pk, "BTC", AVAILABLE, Decimal("1"))]),
            ledger.Posting("trade", "trade:5", "trade", "5", [(alice.pk, "BTC", AVAILABLE, Decimal("-2.5")),
                                                              (bob.pk, "BTC", AVAILABLE, Decimal("2.5"))]),
        ])  # fmt: skip
    assert _state() == before


def test_a_key_already_posted_fails_the_whole_batch(btc):
    alice, bob = _funded(btc), _funded(btc)
    legs = [(alice.pk, "BTC", AVAILABLE, Decimal("-1")), (bob.pk, "BTC", AVAILABLE, Decimal("1"))]
    _post([ledger.Posting("trade", "trade:6", "trade", "6", legs)])
    before = _state()
    with pytest.raises(psycopg.errors.UniqueViolation):  # raised by the COPY, psycopg's own error
        _post([ledger.Posting("trade", "trade:7", "trade", "7", legs),
               ledger.Posting("trade", "trade:6", "trade", "6", legs)])  # fmt: skip
    assert _state() == before


LEG_AMOUNTS = st.decimals(min_value=Decimal("0.00000001"), max_value=Decimal("3"), places=8)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(moves=st.lists(st.tuples(st.integers(0, 3), st.integers(0, 3), LEG_AMOUNTS, st.booleans()), min_size=1,
                      max_size=30))  # fmt: skip
def test_random_batches_keep_every_invariant(db, moves):
    """Random transfers and holds between four funded users in one batch: the batch commits with the
    balances `post` would leave, or (a balance below zero) fails whole; the ledger verifies clean."""
    currency = factories.currency("BTC")
    accounts = [_funded(currency, "5") for _ in range(4)]
    expected = {a.pk: [Decimal(5), Decimal(0)] for a in accounts}
    postings = []
    for i, (source, target, amount, lock) in enumerate(moves):
        payer, payee = accounts[source].pk, accounts[target].pk
        if lock:  # a hold: available to locked on one account
            legs = [(payer, "BTC", AVAILABLE, -amount), (payer, "BTC", LOCKED, amount)]
            expected[payer][0] -= amount
            expected[payer][1] += amount
        else:
            legs = [(payer, "BTC", AVAILABLE, -amount), (payee, "BTC", AVAILABLE, amount)]
            expected[payer][0] -= amount
            expected[payee][0] += amount
        postings.append(ledger.Posting("transfer", f"batch:{accounts[0].pk}:{i}", "test", str(i), legs))
    before = _state()
    if any(available < 0 for available, _ in expected.values()):
        with pytest.raises(IntegrityError):
            _post(postings)
        assert _state() == before
    else:
        balances = _post(postings)
        assert balances == {pk: tuple(v) for pk, v in expected.items() if pk in balances}
        assert {a.pk: [a.available, a.locked] for a in Account.objects.filter(pk__in=expected)} == expected
    assert _violations() == []


def test_holds_set_after_their_postings_keep_locked_equal_to_the_live_holds(btc):
    """What settlement does for an order that partly filled and then ended: the fill consumes part
    of the hold, the release gives the rest back, and set_holds writes the hold's end."""
    alice, bob = _funded(btc), _funded(btc)
    hold = ledger.hold(account=alice, amount=Decimal(3), owner=("order", "1"))
    postings = [
        ledger.Posting("trade", "trade:8", "trade", "8", [(alice.pk, "BTC", LOCKED, Decimal("-1")),
                                                          (bob.pk, "BTC", AVAILABLE, Decimal("1"))]),
        ledger.Posting("release", "release:order:1", "order", "1", [(alice.pk, "BTC", LOCKED, Decimal("-2")),
                                                                    (alice.pk, "BTC", AVAILABLE, Decimal("2"))]),
    ]  # fmt: skip
    with transaction.atomic(), connection.cursor() as cursor:
        balances = ledger.post_batch(cursor, postings, at=timezone.now())
        ledger.set_holds(cursor, [(hold.pk, Decimal(0), "released")], at=timezone.now())
    assert balances[alice.pk] == (Decimal(9), 0)
    hold.refresh_from_db()
    assert (hold.amount, hold.status) == (0, "released")
    assert verify_ledger() == []  # every invariant, live holds included
