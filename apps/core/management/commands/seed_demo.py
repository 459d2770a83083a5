"""Idempotent demo data for `make run`: an admin and two traders whose credentials are printed.

Passwords are generated on first run and kept in var/demo-credentials.json (git-ignored, mode 600),
so every run prints the right ones. Other apps add their demo data (markets, balances) as they land.
"""

import json
import secrets

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction

DEMO_USERS = [
    # username, email, tier, staff
    ("admin", "admin@exchange.local", "institutional", True),
    ("alice", "alice@exchange.local", "basic", False),
    ("bob", "bob@exchange.local", "pro", False),
]


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
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch(mode=0o600)
        path.write_text(json.dumps(passwords, indent=2) + "\n")
        for name, _, tier, staff in DEMO_USERS:
            role = "admin (superuser)" if staff else f"trader ({tier} tier)"
            self.stdout.write(f"  {role:<20} {name} / {passwords[name]}")
        if not settings.ADMIN_REQUIRE_OTP:
            self.stdout.write("  Admin OTP is OFF for this demo (ADMIN_REQUIRE_OTP=false); production requires it.")

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
        user.is_staff = user.is_superuser = staff
        user.save()
        return password
