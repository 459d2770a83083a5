"""The hot wallet's figures on /metrics, for the "hot wallet below its minimum" alert."""

from decimal import Decimal

import pytest

from apps.wallets import ledger
from apps.wallets.models import Account
from tests import factories


def metric_lines(client, name: str) -> dict[str, float]:
    text = client.get("/metrics").content.decode()
    return {
        line.split("{", 1)[1].split("}", 1)[0]: float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith(name + "{")
    }


@pytest.mark.django_db
def test_hot_wallet_balance_and_minimum_are_exported_per_currency(client):
    btc = factories.currency("BTC", hot_min=Decimal("2"), hot_target=Decimal("5"), hot_max=Decimal("10"))
    factories.currency("OLD", 8, name="Delisted", is_active=False)
    hot = ledger.system_account(Account.Kind.HOT, btc)
    Account.objects.filter(pk=hot.pk).update(available=Decimal("1.5"))

    assert metric_lines(client, "exchange_hot_wallet_available") == {'currency="BTC"': 1.5}
    assert metric_lines(client, "exchange_hot_wallet_minimum") == {'currency="BTC"': 2.0}
