"""GET /api/v1/currencies: every currency with its deposit and withdrawal terms, no authentication."""

from decimal import Decimal

import pytest
from rest_framework.test import APIClient

from apps.wallets.models import Currency
from tests import factories

pytestmark = pytest.mark.django_db


def test_every_currency_with_its_terms_and_no_login_needed():
    factories.currency("BTC", confirmations=2, withdrawal_fee=Decimal("0.0002"), min_withdrawal=Decimal("0.001"))
    factories.currency("USDT")
    factories.currency("ETH", is_active=False)
    response = APIClient().get("/api/v1/currencies")
    assert response.status_code == 200
    assert response.json() == [
        {"code": "BTC", "name": "Bitcoin", "decimals": 8, "network": "BTC", "confirmations": 2,
         "deposit_enabled": True, "withdraw_enabled": True, "withdrawal_fee": "0.00020000",
         "min_withdrawal": "0.00100000"},
        {"code": "ETH", "name": "Ether", "decimals": 18, "network": "ETH", "confirmations": 1,
         "deposit_enabled": False, "withdraw_enabled": False, "withdrawal_fee": "0.000000000000000000",
         "min_withdrawal": "0.000000000000000000"},
        {"code": "USDT", "name": "Tether", "decimals": 6, "network": "USDT", "confirmations": 1,
         "deposit_enabled": True, "withdraw_enabled": True, "withdrawal_fee": "0.000000", "min_withdrawal": "0.000000"},
    ]  # fmt: skip


def test_halted_withdrawals_close_a_currencys_withdrawals_only():
    factories.currency("BTC")
    Currency.objects.filter(code="BTC").update(withdrawals_halted=True, withdrawals_halt_reason="incident")
    (btc,) = APIClient().get("/api/v1/currencies").json()
    assert btc["deposit_enabled"] is True and btc["withdraw_enabled"] is False
