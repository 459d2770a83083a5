"""Reconciliation: clean after real deposits; detects a corrupted balance and a chain mismatch."""

from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.test import Client

from apps.wallets import deposits, ledger
from apps.wallets.models import Account, ReconciliationRun
from apps.wallets.reconciliation import reconcile
from apps.wallets.simchain import SimulatedChain
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def funded(btc):
    user = UserFactory()
    deposits.simulate_deposit(user=user, currency_code="BTC", amount=Decimal("2"), confirmations=2)
    deposits.process_deposits()
    return user


def test_a_clean_exchange_reconciles(funded, btc):
    run = reconcile()
    assert run.ok and run.mismatches == []
    assert run.figures["BTC"]["users"] == "2.000000000000000000" or Decimal(run.figures["BTC"]["users"]) == 2
    assert Decimal(run.figures["BTC"]["hot"]) == Decimal(run.figures["BTC"]["chain_hot"]) == 2


def test_a_deliberately_corrupted_balance_is_detected(funded, btc):
    account = ledger.user_account(funded, btc)
    Account.objects.filter(pk=account.pk).update(available=Decimal("2.5"))  # money invented
    run = reconcile()
    assert not run.ok
    checks = {m["check"] for m in run.mismatches}
    assert "solvency" in checks and "ledger invariant 2" in checks


def test_chain_money_the_ledger_does_not_know_is_detected(funded, btc):
    # Coins leave the hot wallet on chain without a ledger entry (a key leak, a bug in a sender).
    chain = SimulatedChain("BTC")
    chain.send(wallet="hot", to_address=chain.wallet_address("external"), amount=Decimal("0.1"), reference="leak")
    run = reconcile()
    assert [m["subject"] for m in run.mismatches if m["check"] == "custody"] == ["BTC hot"]


def test_unconfirmed_deposits_do_not_count_on_either_side(btc):
    user = UserFactory()
    deposits.simulate_deposit(user=user, currency_code="BTC", amount=Decimal("1"), confirmations=1)  # needs 2
    deposits.process_deposits()
    assert reconcile().ok


def test_the_command_and_the_metrics_report_the_latest_run(funded, btc):
    out = StringIO()
    call_command("reconcile", stdout=out)
    assert "everything matches" in out.getvalue()
    text = Client().get("/metrics").content.decode()
    assert "exchange_reconciliation_mismatches 0.0" in text
    assert 'exchange_wallet_balance{account="hot",currency="BTC",source="chain"} 2.0' in text
    Account.objects.filter(pk=ledger.user_account(funded, btc).pk).update(available=Decimal(3))
    with pytest.raises(CommandError, match="mismatch"):
        call_command("reconcile", stdout=StringIO())
    assert ReconciliationRun.objects.first().ok is False
    assert "exchange_reconciliation_mismatches 0.0" not in Client().get("/metrics").content.decode()


def test_staff_run_it_from_the_admin(funded, btc):
    staff = UserFactory(is_staff=True, is_superuser=True)
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from apps.accounts.tests.conftest import totp_code
    from tests.factories import PASSWORD

    device = TOTPDevice.objects.create(user=staff, name="phone", confirmed=True)
    client = Client()
    client.post("/admin/login/", {"username": staff.username, "password": PASSWORD,
                                  "otp_device": device.persistent_id, "otp_token": totp_code(device)})  # fmt: skip
    response = client.post("/admin/wallets/reconciliationrun/", {"action": "run_now"}, follow=True)
    assert response.status_code == 200
    run = ReconciliationRun.objects.get()
    assert run.trigger == "admin" and run.ok
    page = client.get(f"/admin/wallets/reconciliationrun/{run.pk}/change/")
    assert b"chain_hot" in page.content
