"""Staff of each role and a seeded exchange for the admin dashboard's tests."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.contrib.auth.models import Group
from django.test import Client
from django.utils import timezone
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.plugins.otp_totp.models import TOTPDevice

from apps.kyc.models import Submission
from apps.kyc.roles import COMPLIANCE_GROUP
from apps.markets.roles import TRADING_GROUP
from apps.wallets.roles import TREASURY_GROUP
from tests import factories

GROUPS = {"compliance": COMPLIANCE_GROUP, "treasury": TREASURY_GROUP, "trading": TRADING_GROUP}


def staff(role: str, username: str | None = None):
    """A staff user of `role` ("superuser" or a key of GROUPS)."""
    user = factories.user(username=username or f"{role}-staff", is_staff=True, is_superuser=role == "superuser")
    if role in GROUPS:
        user.groups.add(Group.objects.get(name=GROUPS[role]))
    return user


def admin_client(user) -> Client:
    """A client logged in to the admin with a verified OTP device (as after the OTP login form)."""
    device = TOTPDevice.objects.create(user=user, name="phone", confirmed=True)
    client = Client()
    client.force_login(user)
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = device.persistent_id
    session.save()
    return client


def submission(status="pending", age=dt.timedelta(0), reviewer=None, decided_at=None) -> Submission:
    row = Submission.objects.create(
        user=factories.user(), status=status, full_name="Case", country="DE", date_of_birth=dt.date(1990, 1, 1),
        document_type="passport", document_number="X1", reviewer=reviewer, decided_at=decided_at,
    )  # fmt: skip
    Submission.objects.filter(pk=row.pk).update(created_at=timezone.now() - age)
    row.refresh_from_db()
    return row


def wallets(now) -> dict:
    """BTC (hot band 1-5-10) with 3 BTC in the hot wallet, two withdrawals in review, one refill
    request, and reconciliation runs: 12 h ago matched (hot 2), the latest a BTC custody mismatch."""
    from apps.wallets.models import CustodyTransfer, ReconciliationRun, Withdrawal

    btc = factories.currency("BTC", hot_min=Decimal(1), hot_target=Decimal(5), hot_max=Decimal(10))
    factories.currency("USDT", hot_min=Decimal(0), hot_target=Decimal(0), hot_max=Decimal(0))
    trader = factories.user(username="wallet-trader")
    factories.deposit(trader, "BTC", "3")
    for amount in ("0.5", "0.7"):
        Withdrawal.objects.create(
            user=trader, currency=btc, address="addr", amount=Decimal(amount), fee=Decimal(0),
            reference_value=Decimal(0), status=Withdrawal.Status.REVIEW,
        )  # fmt: skip
    Withdrawal.objects.create(user=trader, currency=btc, address="addr", amount=Decimal(1), fee=Decimal(0),
                              reference_value=Decimal(0), status=Withdrawal.Status.CONFIRMED)  # fmt: skip
    refill = CustodyTransfer.objects.create(currency=btc, direction="refill", amount=Decimal(4), status="requested")
    figures = {"users": "3", "fees": "0", "hot": "3", "cold": "0", "in_transit": "0", "chain_hot": "3",
               "chain_cold": "0", "sandbox_issuance": "0"}  # fmt: skip
    earlier = {"BTC": {**figures, "hot": "2", "users": "2", "chain_hot": "2"}}
    old = ReconciliationRun.objects.create(ok=True, finished_at=now, figures=earlier)
    ReconciliationRun.objects.filter(pk=old.pk).update(started_at=now - dt.timedelta(hours=12))
    latest = ReconciliationRun.objects.create(
        ok=False, finished_at=now, figures={"BTC": {**figures, "chain_hot": "2.5"}, "USDT": {k: "0" for k in figures}},
        mismatches=[{"check": "custody", "subject": "BTC hot", "detail": "ledger 3 != chain 2.5"}],
    )  # fmt: skip
    return {"btc": btc, "refill": refill, "old_run": old, "latest_run": latest}


def markets() -> dict:
    """BTC-USDT trading with a cursor row and 3 commands in its stream (2 waiting), ETH-USDT halted."""
    from apps.markets import services as market_services
    from apps.markets import streams
    from apps.matching.models import MarketState

    factories.currency("ETH")
    btc_usdt = factories.market("BTC", "USDT")
    eth_usdt = factories.market("ETH", "USDT")
    market_services.set_status(market=eth_usdt, status="halted", reason="listing review")
    MarketState.objects.create(market=btc_usdt, last_stream_id="1-0", commands_applied=7)
    for n in range(3):
        streams.send("BTC-USDT", "new", n + 1)
    return {"btc_usdt": btc_usdt, "eth_usdt": eth_usdt}
