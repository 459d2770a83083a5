"""Reconciliation: clean after real deposits; detects a corrupted balance and a chain mismatch."""

from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.test import Client

from apps.core.models import AuditEvent
from apps.wallets import deposits, ledger, tasks
from apps.wallets.models import Account, ReconciliationRun
from apps.wallets.reconciliation import reconcile
from apps.wallets.simchain import SimulatedChain
from tests.factories import UserFactory, admin_login

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


def test_staff_run_it_from_the_admin_with_no_run_listed_yet(funded, btc):
    staff = UserFactory(is_staff=True, is_superuser=True)
    client = admin_login(staff)
    url = "/admin/wallets/reconciliationrun/"
    fresh = client.get(url).content.decode()
    assert "No reconciliation has run yet" in fresh and 'value="Run a reconciliation now"' in fresh
    assert client.get(f"{url}run/").status_code == 405  # a GET changes nothing
    response = client.post(f"{url}run/", {"next": url}, follow=True)
    assert response.redirect_chain == [(url, 302)]
    run = ReconciliationRun.objects.get()
    assert run.trigger == "admin" and run.ok
    page = response.content.decode()
    assert f"Reconciliation #{run.pk}: everything matched." in page  # the message
    assert f"#{run.pk}</a>, admin, finished" in page and "everything matched." in page  # what the last run found
    assert AuditEvent.objects.filter(action="wallets.reconcile", actor=staff, target_id=str(run.pk)).exists()
    assert b"chain_hot" in client.get(f"{url}{run.pk}/change/").content
    # A mismatch is named on the page; a `next` to another site is not followed.
    Account.objects.filter(pk=ledger.user_account(funded, btc).pk).update(available=Decimal(3))
    response = client.post(f"{url}run/", {"next": "https://evil.example/"})
    assert response.status_code == 302 and response["Location"] == url
    page = client.get(url).content.decode()
    assert "3 mismatches" in page and "solvency: BTC: owed" in page  # solvency, invariants 2 and 3


def test_the_dashboard_runs_one_and_comes_back(funded, btc):
    client = admin_login(UserFactory(is_staff=True, is_superuser=True))
    assert 'id="dashboard-run-reconciliation"' in client.get("/admin/").content.decode()
    response = client.post("/admin/wallets/reconciliationrun/run/", {"next": "/admin/"}, follow=True)
    assert response.redirect_chain == [("/admin/", 302)] and ReconciliationRun.objects.get().ok


def test_staff_without_the_permission_cannot_run_one(btc):
    client = admin_login(UserFactory(is_staff=True))
    assert client.post("/admin/wallets/reconciliationrun/run/").status_code == 403
    assert ReconciliationRun.objects.count() == 0


def test_the_startup_run_is_the_task_with_its_trigger(funded, btc):
    assert tasks.reconcile.apply(kwargs={"trigger": "startup"}).result is True
    assert ReconciliationRun.objects.get().trigger == "startup"
