"""Users and API keys. The user model is custom from the first migration (Django cannot switch later)."""

import secrets

from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.db.models.functions import Lower


class User(AbstractUser):
    class Tier(models.TextChoices):
        BASIC = "basic", "Basic"
        PRO = "pro", "Pro"
        INSTITUTIONAL = "institutional", "Institutional"

    email = models.EmailField("email address", unique=True)
    tier = models.CharField(max_length=16, choices=Tier.choices, default=Tier.BASIC)

    REQUIRED_FIELDS = ["email"]

    class Meta:
        constraints = [
            # "Alice@x.com" and "alice@x.com" are one person; so are "Bob" and "bob".
            models.UniqueConstraint(Lower("email"), name="accounts_user_email_ci_unique"),
            models.UniqueConstraint(Lower("username"), name="accounts_user_username_ci_unique"),
        ]


def new_key_id() -> str:
    return secrets.token_hex(16)


class ApiKey(models.Model):
    """A key a program signs requests with. Acts as its owner with only its permissions.

    The secret is stored encrypted (apps.core.crypto) because the server needs it to check
    HMAC signatures; it is shown once, at creation. Revoked keys are kept for the audit trail."""

    class Permission(models.TextChoices):
        READ = "read", "Read"
        TRADE = "trade", "Trade"
        WITHDRAW = "withdraw", "Withdraw"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_keys")
    label = models.CharField(max_length=64)
    key = models.CharField(max_length=32, unique=True, default=new_key_id, editable=False)
    secret_encrypted = models.BinaryField(editable=False)
    permissions = ArrayField(models.CharField(max_length=16, choices=Permission.choices), size=3)
    # Addresses or networks (CIDR); empty means any address.
    ip_allowlist = ArrayField(models.CharField(max_length=64), default=list, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "API key"
        verbose_name_plural = "API keys"
        indexes = [models.Index(fields=["user", "-created_at"])]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(permissions__contained_by=["read", "trade", "withdraw"]) & ~models.Q(permissions=[]),
                name="accounts_apikey_permissions_valid",
            )
        ]

    def __str__(self) -> str:
        return f"{self.label} ({self.key[:8]}…)"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None
