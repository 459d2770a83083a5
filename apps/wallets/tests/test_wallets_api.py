from decimal import Decimal

import pytest
from rest_framework.test import APIClient

from apps.accounts import services as account_services
from apps.wallets.tests.conftest import deposit
from tests import factories
from tests.factories import PASSWORD, UserFactory

pytestmark = pytest.mark.django_db


def test_wallets_list_every_active_currency_in_its_precision(btc, usdt):
    factories.currency("OLD", 2, name="Retired", is_active=False)
    user = UserFactory()
    deposit(user, btc, "0.5", "d1")
    client = APIClient()
    access = account_services.login(username=user.username, password=PASSWORD, otp_code=None).access
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {access}")
    response = client.get("/api/v1/wallets")
    assert response.status_code == 200
    assert response.json() == [
        {"currency": "BTC", "available": "0.50000000", "locked": "0.00000000"},
        {"currency": "USDT", "available": "0.000000", "locked": "0.000000"},
    ]
    assert Decimal(response.json()[0]["available"]) == Decimal("0.5")


def test_wallets_need_authentication():
    assert APIClient().get("/api/v1/wallets").status_code == 401
