"""Faucet credits keep every ledger invariant and reconcile: sandbox issuance is on the held side and
is no chain wallet, so verify_ledger, the reconcile command and the metrics stay clean beside real
deposits, trades and withdrawals' holds."""

import threading
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection
from django.test import Client

from apps.sandbox import services
from apps.sandbox.tests.conftest import faucet
from apps.wallets import deposits, ledger
from apps.wallets.models import Account, ReconciliationRun, Transaction
from apps.wallets.reconciliation import reconcile
from apps.wallets.verification import verify_ledger
from tests.factories import UserFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("sandbox_on", "currencies")]


def test_faucet_credits_beside_real_deposits_reconcile_with_no_discrepancy(client, user):
    # Real coins on the (simulated) chain, credited as a deposit: hot wallet == chain.
    deposits.simulate_deposit(user=user, currency_code="BTC", amount=Decimal("2"), confirmations=2)
    deposits.process_deposits()
    assert faucet(client, {"currency": "BTC", "amount": "3"}).status_code == 201
    assert faucet(client, {"currency": "USDT"}).status_code == 201
    # Faucet money moves like any other: held for an order-like owner, partly released.
    account = ledger.user_account(user, "BTC")
    held = ledger.hold(account=account, amount=Decimal("4"), owner=("test", "1"))
    ledger.release(hold_id=held.pk, amount=Decimal("1"))
    other = UserFactory()
    ledger.post(kind="transfer", idempotency_key="t1", legs=[
        ledger.Leg(account, Decimal("-0.5")), ledger.Leg(ledger.user_account(other, "BTC"), Decimal("0.5")),
    ])  # fmt: skip

    assert verify_ledger() == []
    out = StringIO()
    call_command("verify_ledger", stdout=out)  # exits 1 on a violation
    run = reconcile()
    assert run.ok and run.mismatches == [], run.mismatches
    btc = run.figures["BTC"]
    assert Decimal(btc["users"]) == 5 and Decimal(btc["sandbox_issuance"]) == 3
    assert Decimal(btc["hot"]) == Decimal(btc["chain_hot"]) == 2  # issuance is not compared with a chain
    assert Decimal(run.figures["USDT"]["sandbox_issuance"]) == 10000
    call_command("reconcile", stdout=StringIO())
    assert ReconciliationRun.objects.latest("started_at").ok
    # The metrics export the issuance balance beside the others.
    metrics = Client().get("/metrics").content.decode()
    assert 'exchange_wallet_balance{account="sandbox_issuance",currency="BTC",source="ledger"} 3.0' in metrics
    assert "exchange_reconciliation_mismatches 0.0" in metrics


def test_a_corrupted_issuance_balance_is_reported(client):
    assert faucet(client, {"currency": "BTC", "amount": "1"}).status_code == 201
    issuance = ledger.system_account(Account.Kind.SANDBOX_ISSUANCE, "BTC")
    Account.objects.filter(pk=issuance.pk).update(available=Decimal("0.5"))
    run = reconcile()
    checks = {m["check"] for m in run.mismatches}
    assert not run.ok and {"solvency", "ledger invariant 2", "ledger invariant 3"} <= checks


@pytest.mark.django_db(transaction=True)
def test_one_request_id_from_five_threads_at_once_credits_once(user, currencies):
    results, barrier = [], threading.Barrier(5)

    def credit():
        try:
            barrier.wait()
            results.append(services.credit(user=user, currency_code="BTC", amount=Decimal("1"), request_id="same"))
        finally:
            connection.close()

    threads = [threading.Thread(target=credit) for _ in range(5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 5 and sum(r.created for r in results) == 1
    assert len({r.transaction.pk for r in results}) == 1
    assert Transaction.objects.filter(kind="faucet").count() == 1
    assert ledger.user_account(user, "BTC").available == 1
    assert verify_ledger() == []
