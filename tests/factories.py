"""Test data for the whole suite, built the way the application builds it (docs/testing.md).

Plain functions any test module imports (`from tests import factories`, or by name:
`from tests.factories import funded_trader, place`): currencies, markets, users, funded traders,
API clients and orders. The fixtures built on them
(`market`, `published`, the Redis stream cleanup) are in tests/fixtures.py, a plugin the root
conftest.py registers for every test under apps/ and tests/.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import factory

from apps.accounts.models import User

PASSWORD = "correct-horse-battery-staple-42"

# The precision (and a display name) of the currencies tests use most; any other code needs decimals=.
KNOWN_CURRENCIES = {"BTC": ("Bitcoin", 8), "USDT": ("Tether", 6), "ETH": ("Ether", 18)}


class UserFactory(factory.django.DjangoModelFactory):
    """A user with the password PASSWORD (username trader<n>, a basic tier). No KYC, no balances."""

    class Meta:
        model = User
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"trader{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.com")
    tier = User.Tier.BASIC
    password = factory.PostGenerationMethodCall("set_password", PASSWORD)

    @factory.post_generation
    def _save(obj, create, extracted, **kwargs):
        if create:
            obj.save()


def user(**fields) -> User:
    """A saved user (UserFactory), `fields` overriding its defaults."""
    return UserFactory(**fields)


def currency(code: str, decimals: int | None = None, **fields):
    """The currency `code`: get-or-create by code. A new one gets `decimals` (BTC 8, USDT 6, ETH 18
    unless told) and `fields` (name, confirmations, withdrawal_fee, is_active, ...); an existing one
    is returned as it is, whatever was asked."""
    from apps.wallets.models import Currency

    existing = Currency.objects.filter(code=code).first()
    if existing is not None:
        return existing
    name, known_decimals = KNOWN_CURRENCIES.get(code, (code, None))
    if decimals is None:
        decimals = known_decimals
    if decimals is None:
        raise ValueError(f"currency({code!r}): a new currency needs its decimals")
    return Currency.objects.create(code=code, **{"name": name, "decimals": decimals, **fields})


def market(base: str = "BTC", quote: str = "USDT", *, tick_size="0.01", lot_size="0.0001", **fields):
    """The market BASE-QUOTE through markets.services.create_market (validated, with its fee accounts),
    creating its currencies first (currency(): known codes only, or create them beforehand). Amounts may
    be strings; `fields` are create_market's (min_notional, maker_fee, taker_fee, the limits)."""
    from apps.markets import services as market_services

    currency(base)
    currency(quote)
    amounts = {name: Decimal(value) if isinstance(value, str) else value for name, value in fields.items()}
    return market_services.create_market(
        base=base, quote=quote, tick_size=Decimal(tick_size), lot_size=Decimal(lot_size), **amounts
    )


def kyc(user, *, level: int = 1):
    """A KYC submission for `user`: level 1 a pending one (may trade), level 2 an approved one."""
    from apps.kyc.models import Submission

    return Submission.objects.create(
        user=user, status="approved" if level == 2 else "pending", full_name="T", country="DE",
        date_of_birth=dt.date(1990, 1, 1), document_type="passport", document_number="T1",
    )  # fmt: skip


def deposit(user, code: str, amount) -> None:
    """Credit `amount` of `code` to `user` as a confirmed deposit does (wallets.ledger: the hot wallet
    down, the user's account up), once per user and currency."""
    from apps.wallets import ledger
    from apps.wallets.models import Account

    amount = Decimal(amount)
    ledger.post(kind="deposit", idempotency_key=f"fund:{user.pk}:{code}", legs=[
        ledger.Leg(ledger.system_account(Account.Kind.HOT, code), -amount),
        ledger.Leg(ledger.user_account(user, code), amount),
    ])  # fmt: skip


def funded_trader(*, btc: str = "0", usdt: str = "0", level: int = 1) -> User:
    """A user who may trade (KYC level 1 unless told otherwise; level=0: none), funded with BTC and
    USDT like a confirmed deposit. The currencies must exist (the `market` fixture or market())."""
    trader = UserFactory()
    if level:
        kyc(trader, level=level)
    for code, amount in (("BTC", btc), ("USDT", usdt)):
        if Decimal(amount):
            deposit(trader, code, amount)
    return trader


def client_for(user):
    """A REST client logged in as `user` (a JWT bearer token; users without 2FA)."""
    from rest_framework.test import APIClient

    from apps.accounts import services as account_services

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


def balance(user, code: str) -> tuple[Decimal, Decimal]:
    """The user's (available, locked) of `code`, read from the database now."""
    from apps.wallets import ledger

    account = ledger.user_account(user, code)
    account.refresh_from_db()
    return account.available, account.locked


def fees(code: str) -> Decimal:
    """The exchange's fee account balance of `code`."""
    from apps.wallets import ledger
    from apps.wallets.models import Account

    return ledger.system_account(Account.Kind.FEES, code).available


def assert_ledger_consistent() -> None:
    from apps.wallets.verification import verify_ledger

    assert verify_ledger() == []


def admin_login(user):
    """A test Client logged in to the admin through its OTP login form (a confirmed TOTP device)."""
    from django.test import Client
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from apps.accounts.tests.conftest import totp_code

    device = TOTPDevice.objects.create(user=user, name="phone", confirmed=True)
    client = Client()
    credentials = {"username": user.username, "password": PASSWORD}
    otp = {"otp_device": device.persistent_id, "otp_token": totp_code(device)}
    response = client.post("/admin/login/", {**credentials, **otp})
    assert response.status_code == 302, response.content[:500]
    return client
