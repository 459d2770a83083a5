"""Deposits on the simulated chain: addresses, detection, confirmations, exactly-once crediting."""

import threading
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from rest_framework.test import APIClient

from apps.accounts import services as account_services
from apps.wallets import deposits, ledger
from apps.wallets.models import Deposit
from apps.wallets.simchain import SimulatedChain
from apps.wallets.verification import verify_ledger
from tests import factories
from tests.factories import PASSWORD, UserFactory

pytestmark = pytest.mark.django_db


def client_for(user) -> APIClient:
    client = APIClient()
    access = account_services.login(username=user.username, password=PASSWORD, otp_code=None).access
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {access}")
    return client


def test_deposit_address_is_made_once_per_user_and_currency(btc):
    user = UserFactory()
    client = client_for(user)
    first = client.get("/api/v1/wallets/btc/deposit-address")
    assert first.status_code == 200
    assert first.json()["currency"] == "BTC"
    assert SimulatedChain("BTC").validate_address(first.json()["address"])
    assert client.get("/api/v1/wallets/BTC/deposit-address").json() == first.json()
    other = client_for(UserFactory()).get("/api/v1/wallets/BTC/deposit-address").json()
    assert other["address"] != first.json()["address"]


def test_unknown_or_inactive_currency_is_404(btc):
    factories.currency("OLD", 2, name="Old", is_active=False)
    client = client_for(UserFactory())
    for code in ("DOGE", "OLD"):
        response = client.get(f"/api/v1/wallets/{code}/deposit-address")
        assert response.status_code == 404 and response.json()["error"]["code"] == "unknown_currency"


def test_a_deposit_is_credited_once_confirmed(btc):  # btc needs 2 confirmations
    user = UserFactory()
    deposits.simulate_deposit(user=user, currency_code="BTC", amount=Decimal("0.25"))
    assert deposits.process_deposits() == {"BTC": 0}
    deposit = Deposit.objects.get(user=user)
    assert (deposit.status, deposit.confirmations) == ("pending", 0)
    chain = SimulatedChain("BTC")
    chain.mine()
    assert deposits.process_deposits() == {"BTC": 0}  # one confirmation of two
    chain.mine()
    assert deposits.process_deposits() == {"BTC": 1}
    assert deposits.process_deposits() == {"BTC": 0}  # never twice
    deposit.refresh_from_db()
    assert deposit.status == "credited" and deposit.confirmations == 2
    assert ledger.user_account(user, btc).available == Decimal("0.25")
    assert chain.balance(wallet="hot", min_confirmations=2) == Decimal("0.25")
    assert verify_ledger() == []
    listed = client_for(user).get("/api/v1/deposits").json()
    assert [d["status"] for d in listed["results"]] == ["credited"] and listed["results"][0]["amount"] == "0.25000000"


@pytest.mark.django_db(transaction=True)
def test_two_workers_crediting_at_once_credit_once():
    btc = factories.currency("BTC", confirmations=1)
    user = UserFactory()
    deposits.simulate_deposit(user=user, currency_code="BTC", amount=Decimal(1), confirmations=1)
    deposits.scan_deposits(currency=btc)
    barrier = threading.Barrier(4)
    results, errors = [], []

    def worker():
        try:
            barrier.wait()
            results.append(deposits.credit_confirmed(currency=btc))
        except Exception as exc:  # noqa: BLE001 - asserted below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == [] and sorted(results) == [0, 0, 0, 1]
    assert ledger.user_account(user, btc).available == Decimal(1)
    assert verify_ledger() == []


@pytest.mark.parametrize("amount", ["0", "-1", "0.000000001"])
def test_simulated_deposits_refuse_bad_amounts(btc, amount):
    with pytest.raises(CommandError):
        call_command("simulate_deposit", UserFactory().username, "BTC", amount)
    assert Deposit.objects.count() == 0


def test_simulate_deposit_command(btc):
    user = UserFactory()
    out = StringIO()
    call_command("simulate_deposit", user.username, "btc", "1.5", "--confirmations", "2", stdout=out)
    assert "1.5 BTC" in out.getvalue()
    deposits.process_deposits()
    assert ledger.user_account(user, btc).available == Decimal("1.5")
    with pytest.raises(CommandError):
        call_command("simulate_deposit", "nobody", "BTC", "1")
    with pytest.raises(CommandError):
        call_command("simulate_deposit", user.username, "DOGE", "1")
