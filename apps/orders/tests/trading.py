"""Trading test support (a pytest plugin, see the root conftest): a BTC-USDT market, funded traders."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from apps.accounts.tests.factories import UserFactory
from apps.kyc.models import Submission
from apps.markets import services as market_services
from apps.wallets import ledger
from apps.wallets.models import Account, Currency
from apps.wallets.verification import verify_ledger


@pytest.fixture(autouse=True)
def _clean_streams():
    from apps.core.redis import get_redis

    client = get_redis()
    for pattern in ("exchange:orders:*", "exchange:book:*"):
        keys = list(client.scan_iter(pattern, count=1000))
        if keys:
            client.delete(*keys)


@pytest.fixture
def published(monkeypatch):
    """The channel-layer messages the matcher's publisher sends, as (group, message), instead of sending them."""
    from apps.matching import publish

    sent = []

    async def capture(self, messages):
        sent.extend(messages)

    monkeypatch.setattr(publish.Publisher, "_send", capture)
    return sent


@pytest.fixture
def market(db):
    for code, decimals in (("BTC", 8), ("USDT", 6), ("ETH", 18)):
        Currency.objects.get_or_create(code=code, defaults={"name": code, "decimals": decimals})
    return market_services.create_market(
        base="BTC", quote="USDT", tick_size=Decimal("0.01"), lot_size=Decimal("0.0001"),
        min_notional=Decimal("1"), maker_fee=Decimal("0.001"), taker_fee=Decimal("0.002"),
    )  # fmt: skip


def trader(*, btc: str = "0", usdt: str = "0", level: int = 1):
    """A user who may trade (KYC level 1 unless told otherwise), funded like a confirmed deposit."""
    user = UserFactory()
    if level:
        Submission.objects.create(
            user=user, status="approved" if level == 2 else "pending", full_name="T", country="DE",
            date_of_birth=dt.date(1990, 1, 1), document_type="passport", document_number="T1",
        )  # fmt: skip
    for code, amount in (("BTC", btc), ("USDT", usdt)):
        if Decimal(amount):
            ledger.post(kind="deposit", idempotency_key=f"fund:{user.pk}:{code}", legs=[
                ledger.Leg(ledger.system_account(Account.Kind.HOT, code), -Decimal(amount)),
                ledger.Leg(ledger.user_account(user, code), Decimal(amount)),
            ])  # fmt: skip
    return user


def balance(user, code: str) -> tuple[Decimal, Decimal]:
    account = ledger.user_account(user, code)
    account.refresh_from_db()
    return account.available, account.locked


def fees(code: str) -> Decimal:
    return ledger.system_account(Account.Kind.FEES, code).available


def assert_ledger_consistent():
    assert verify_ledger() == []


def client_for(user):
    from rest_framework.test import APIClient

    from apps.accounts import services as account_services
    from apps.accounts.tests.factories import PASSWORD

    client = APIClient()
    access = account_services.login(username=user.username, password=PASSWORD, otp_code=None).access
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {access}")
    return client


def place(user, **fields):
    """place_order with strings for amounts, BTC-USDT unless told otherwise; returns the order."""
    from apps.orders.services import OrderRequest, place_order

    fields.setdefault("symbol", "BTC-USDT")
    for key in ("quantity", "price", "stop_price", "quote_quantity"):
        if key in fields:
            fields[key] = Decimal(fields[key])
    order, _created = place_order(user=user, request=OrderRequest(**fields))
    return order
