from decimal import Decimal

import pytest

from apps.wallets import ledger
from apps.wallets.models import Account
from tests import factories


@pytest.fixture
def btc(db):
    return factories.currency("BTC", confirmations=2)


@pytest.fixture
def usdt(db):
    return factories.currency("USDT")


def deposit(user, currency, amount: str, key: str):
    """Credit a user as a confirmed deposit does: the hot wallet (asset) up, the user (liability) up."""
    amount = Decimal(amount)
    return ledger.post(
        kind="deposit",
        idempotency_key=key,
        legs=[
            ledger.Leg(ledger.system_account(Account.Kind.HOT, currency), -amount),
            ledger.Leg(ledger.user_account(user, currency), amount),
        ],
    )


def transfer(sender, receiver, currency, amount: str, key: str):
    amount = Decimal(amount)
    return ledger.post(
        kind="transfer",
        idempotency_key=key,
        legs=[
            ledger.Leg(ledger.user_account(sender, currency), -amount),
            ledger.Leg(ledger.user_account(receiver, currency), amount),
        ],
    )
