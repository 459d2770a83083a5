"""Idempotent demo data for `make run`: an admin, three staff (compliance, treasury, trading operations)
and two traders, whose credentials are printed.

Passwords are generated on first run and kept in var/demo-credentials.json (git-ignored, mode 600),
so every run prints the right ones. It lives in the site app, above the apps whose rows it creates
(docs/architecture.md).
"""

import datetime as dt
import io
import json
import secrets
from decimal import Decimal

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management.base import BaseCommand
from django.db import transaction
from PIL import Image, ImageDraw

from apps.kyc import services as kyc_services
from apps.kyc.models import Submission
from apps.kyc.roles import COMPLIANCE_GROUP, ensure_compliance_group
from apps.kyc.selectors import submissions_for
from apps.markets import services as market_services
from apps.markets.models import Market
from apps.markets.roles import TRADING_GROUP, ensure_trading_group
from apps.wallets import ledger
from apps.wallets.models import Account, Currency, Transaction
from apps.wallets.roles import TREASURY_GROUP, ensure_treasury_group

DEMO_USERS = [
    # username, email, tier, staff
    ("admin", "admin@exchange.local", "institutional", True),
    ("carol", "carol@exchange.local", "basic", True),  # compliance reviewer (not a superuser)
    ("dave", "dave@exchange.local", "basic", True),  # treasury
    ("erin", "erin@exchange.local", "basic", True),  # trading operations
    ("alice", "alice@exchange.local", "basic", False),
    ("bob", "bob@exchange.local", "pro", False),
]
ROLES = {"admin": "admin (superuser)", "carol": "compliance reviewer", "dave": "treasury",
         "erin": "trading operations"}  # fmt: skip
# Each staff role's group, created and kept in step by its owning app after every migrate.
STAFF_GROUPS = {
    "carol": (COMPLIANCE_GROUP, ensure_compliance_group),
    "dave": (TREASURY_GROUP, ensure_treasury_group),
    "erin": (TRADING_GROUP, ensure_trading_group),
}


class Command(BaseCommand):
    help = "Create demo data (idempotent) and print the demo credentials."

    def handle(self, *args, **options):
        path = settings.VAR_DIR / "demo-credentials.json"
        stored = json.loads(path.read_text()) if path.exists() else {}
        with transaction.atomic():
            passwords = {
                name: self._ensure_user(name, email, tier, staff, stored.get(name))
                for name, email, tier, staff in DEMO_USERS
            }
        self._ensure_demo_kyc()
        self._ensure_currencies()
        self._ensure_markets_and_funds()
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch(mode=0o600)
        path.write_text(json.dumps(passwords, indent=2) + "\n")
        for name, _, tier, _staff in DEMO_USERS:
            role = ROLES.get(name, f"trader ({tier} tier)")
            self.stdout.write(f"  {role:<20} {name} / {passwords[name]}")
        if not settings.ADMIN_REQUIRE_OTP:
            self.stdout.write("  Admin OTP is OFF for this demo (ADMIN_REQUIRE_OTP=false); production requires it.")
        if settings.EXCHANGE_SANDBOX:
            self.stdout.write(
                '  Sandbox mode is ON: POST /api/v1/sandbox/faucet {"currency": "BTC"} credits test funds.'
            )

    def _ensure_user(self, username, email, tier, staff, stored_password) -> str:
        User = get_user_model()
        user = User.objects.select_for_update().filter(username=username).first()
        if user is not None and stored_password and user.check_password(stored_password):
            return stored_password
        password = stored_password or secrets.token_urlsafe(12)
        if user is None:
            user = User(username=username, email=email)
        user.set_password(password)
        user.tier = tier
        user.is_staff = staff
        user.is_superuser = username == "admin"
        user.save()
        if username in STAFF_GROUPS:
            group, ensure = STAFF_GROUPS[username]
            ensure()
            user.groups.add(Group.objects.get(name=group))
        return password

    def _ensure_currencies(self) -> None:
        for code, name, decimals, confirmations, fee, minimum, auto, hot, price in [
            ("BTC", "Bitcoin", 8, 2, "0.0002", "0.001", "0.5", ("1", "5", "10"), "60000"),
            ("ETH", "Ether", 18, 12, "0.003", "0.01", "10", ("20", "100", "200"), "3000"),
            ("USDT", "Tether USD", 6, 12, "1", "10", "10000", ("50000", "250000", "500000"), "1"),
        ]:
            Currency.objects.get_or_create(code=code, defaults={
                "name": name, "decimals": decimals, "confirmations": confirmations,
                "withdrawal_fee": Decimal(fee), "min_withdrawal": Decimal(minimum),
                "auto_approve_limit": Decimal(auto), "hot_min": Decimal(hot[0]), "hot_target": Decimal(hot[1]),
                "hot_max": Decimal(hot[2]), "limit_reference_price": Decimal(price),
            })  # fmt: skip

    def _ensure_markets_and_funds(self) -> None:
        """Three markets, an approved identity for bob (alice's is pending: level 1, may trade) and
        demo balances for both traders, credited like confirmed deposits (idempotent keys)."""
        for base, quote, tick, lot, minimum in [
            ("BTC", "USDT", "0.01", "0.0001", "5"),
            ("ETH", "USDT", "0.01", "0.0001", "5"),
            ("ETH", "BTC", "0.00001", "0.001", "0.0001"),
        ]:
            if not Market.objects.filter(symbol=f"{base}-{quote}").exists():
                # With the risk controls a real venue runs (docs/risk-controls.md), staff can change them.
                market_services.create_market(base=base, quote=quote, tick_size=Decimal(tick), lot_size=Decimal(lot),
                                              min_notional=Decimal(minimum), price_band=Decimal("0.2"),
                                              max_open_orders=200, market_order_collar=Decimal("0.05"),
                                              breaker_move=Decimal("0.1"), breaker_window_seconds=60,
                                              breaker_cooldown_seconds=120)  # fmt: skip
        User = get_user_model()
        bob = User.objects.get(username="bob")
        if not Submission.objects.filter(user=bob).exists():
            Submission.objects.create(
                user=bob, status="approved", full_name="Bob Demo", date_of_birth=dt.date(1985, 2, 3), country="DE",
                document_type="passport", document_number="DEMO67890",
            )  # fmt: skip
        for name in ("alice", "bob"):
            user = User.objects.get(username=name)
            for code, amount in (("BTC", "2"), ("ETH", "30"), ("USDT", "100000")):
                if Transaction.objects.filter(idempotency_key=f"demo-funds:{name}:{code}").exists():
                    continue  # funded by an earlier version of this command (as a hot-wallet deposit)
                # Test funds from the sandbox issuance account, as the faucet gives them: no coins
                # stand behind them on the simulated chain, so they must not claim the hot wallet's.
                ledger.post(kind=Transaction.Kind.FAUCET, idempotency_key=f"demo-faucet:{name}:{code}",
                            memo="demo funds", legs=[
                    ledger.Leg(ledger.system_account(Account.Kind.SANDBOX_ISSUANCE, code), -Decimal(amount)),
                    ledger.Leg(ledger.user_account(user, code), Decimal(amount)),
                ])  # fmt: skip

    def _ensure_demo_kyc(self) -> None:
        """A pending KYC case for alice, so the review queue has work in it."""
        alice = get_user_model().objects.get(username="alice")
        if submissions_for(alice).exists():
            return

        def picture(label: str) -> SimpleUploadedFile:
            image = Image.new("RGB", (480, 300), (235, 238, 243))
            ImageDraw.Draw(image).text((24, 24), f"DEMO {label} - not a real document", fill=(30, 30, 30))
            buffer = io.BytesIO()
            image.save(buffer, "JPEG")
            return SimpleUploadedFile(f"{label}.jpg", buffer.getvalue(), content_type="image/jpeg")

        kyc_services.submit(
            user=alice,
            data={"full_name": "Alice Demo", "date_of_birth": dt.date(1990, 5, 17), "country": "NL",
                  "document_type": "passport", "document_number": "DEMO12345"},
            files={"document_front": picture("passport"), "selfie": picture("selfie")},
        )  # fmt: skip
