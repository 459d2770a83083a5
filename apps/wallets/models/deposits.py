"""Deposits: each user's address per currency, and what arrived on the chain (apps.wallets.deposits)."""

from django.conf import settings
from django.db import models
from django.db.models import Q

from apps.wallets.models.ledger import AMOUNT, Currency, Transaction


class DepositAddress(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="deposit_addresses")
    currency = models.ForeignKey(Currency, on_delete=models.PROTECT)
    address = models.CharField(max_length=128, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name_plural = "deposit addresses"
        constraints = [models.UniqueConstraint(fields=["user", "currency"], name="wallets_one_deposit_address")]

    def __str__(self) -> str:
        return self.address


class Deposit(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", "Waiting for confirmations"
        CREDITED = "credited", "Credited"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="deposits")
    currency = models.ForeignKey(Currency, on_delete=models.PROTECT)
    address = models.CharField(max_length=128)
    txid = models.CharField(max_length=128)
    output_index = models.PositiveIntegerField(default=0)
    amount = models.DecimalField(**AMOUNT)
    confirmations = models.PositiveIntegerField(default=0)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.PENDING)
    ledger_transaction = models.OneToOneField(Transaction, null=True, blank=True, on_delete=models.PROTECT)
    detected_at = models.DateTimeField(auto_now_add=True)
    credited_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-detected_at", "-id"]
        # The admin's status filter, newest first, and its txid search (apps/wallets/admin.py).
        indexes = [models.Index(fields=["status", "-id"], name="wallets_deposit_status_recent"),
                   models.Index(fields=["txid"], name="wallets_deposit_txid")]  # fmt: skip
        constraints = [
            models.UniqueConstraint(fields=["currency", "txid", "output_index"], name="wallets_deposit_once"),
            models.CheckConstraint(condition=Q(amount__gt=0), name="wallets_deposit_positive"),
            models.CheckConstraint(
                condition=Q(status="pending", ledger_transaction__isnull=True)
                | Q(status="credited", ledger_transaction__isnull=False),
                name="wallets_deposit_credited_has_transaction",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.amount} {self.currency_id} to {self.user} ({self.status})"
