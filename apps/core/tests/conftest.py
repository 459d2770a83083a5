"""Fixtures of the admin list tests: a superuser's OTP-verified admin session, and rows in the lists."""

import datetime as dt
from decimal import Decimal

import pytest
from django.test import Client
from django.utils import timezone

from apps.core.models import AuditEvent
from apps.trades.models import Trade
from tests.factories import UserFactory, admin_login, funded_trader, place


def events(n: int) -> None:
    AuditEvent.objects.bulk_create(AuditEvent(action="test", target_type="t", target_id=str(i)) for i in range(n))


@pytest.fixture
def staff_client(market) -> Client:
    return admin_login(UserFactory(is_staff=True, is_superuser=True))


@pytest.fixture
def rows(market):
    """Orders (with their holds), two trades, ledger transactions and entries, audit events."""
    buyer, seller = funded_trader(usdt="100000"), funded_trader(btc="10")
    orders = [place(buyer, side="buy", type="limit", price="100.00", quantity="0.0100") for _ in range(3)]
    orders += [place(seller, side="sell", type="limit", price="200.00", quantity="0.0100") for _ in range(3)]
    now = timezone.now()
    Trade.objects.bulk_create(
        Trade(market=market, price=Decimal(150), quantity=Decimal("0.01"), quote_quantity=Decimal("1.5"),
              taker_side="buy", buy_order=orders[i], sell_order=orders[3 + i], buyer=buyer, seller=seller,
              buyer_fee=Decimal(0), seller_fee=Decimal(0), created_at=now - dt.timedelta(minutes=i))
        for i in range(2)
    )  # fmt: skip
    events(3)
    return {"buyer": buyer, "seller": seller, "orders": orders}
