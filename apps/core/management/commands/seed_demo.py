"""Idempotent demo data for `make run`: an admin superuser whose credentials are printed.

The password is generated on first run and kept in var/demo-credentials (git-ignored, mode 600),
so every run prints the right one. Other apps add their demo data (markets, traders) here as they land.
"""

import secrets

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction

ADMIN_USERNAME = "admin"
ADMIN_EMAIL = "admin@exchange.local"


class Command(BaseCommand):
    help = "Create demo data (idempotent) and print the demo credentials."

    def handle(self, *args, **options):
        credentials = settings.VAR_DIR / "demo-credentials"
        with transaction.atomic():
            password = self._ensure_admin(credentials)
        self.stdout.write(f"  Admin login  {ADMIN_USERNAME} / {password}")

    def _ensure_admin(self, credentials) -> str:
        User = get_user_model()
        stored = credentials.read_text().strip() if credentials.exists() else ""
        user = User.objects.select_for_update().filter(username=ADMIN_USERNAME).first()
        if user is not None and stored and user.check_password(stored):
            return stored
        password = stored or secrets.token_urlsafe(12)
        if user is None:
            User.objects.create_superuser(ADMIN_USERNAME, ADMIN_EMAIL, password)
        else:
            user.set_password(password)
            user.is_staff = user.is_superuser = True
            user.save(update_fields=["password", "is_staff", "is_superuser"])
        credentials.parent.mkdir(parents=True, exist_ok=True)
        credentials.touch(mode=0o600)
        credentials.write_text(password + "\n")
        return password
