"""Withdrawals and the users' withdrawal address books (apps.wallets.withdrawals, apps.wallets.address_book)."""

from django.conf import settings
from django.db import models
from django.db.models import Q

from apps.wallets.models.ledger import AMOUNT, Currency, Hold


class Withdrawal(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        REVIEW = "review", "Waiting for staff review"
        APPROVED = "approved", "Approved, waiting to be sent"
        SENT = "sent", "Sent"
        CONFIRMED = "confirmed", "Confirmed"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"

    CANCELLABLE = (Status.PENDING, Status.REVIEW, Status.APPROVED)
    COUNTING = (Status.PENDING, Status.REVIEW, Status.APPROVED, Status.SENT, Status.CONFIRMED)

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="withdrawals")
    currency = models.ForeignKey(Currency, on_delete=models.PROTECT)
    address = models.CharField(max_length=128)
    amount = models.DecimalField(**AMOUNT, help_text="What the address receives.")
    fee = models.DecimalField(**AMOUNT)
    reference_value = models.DecimalField(**AMOUNT, help_text="Amount in KYC_LIMIT_CURRENCY, for limits.")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING, db_index=True)
    hold = models.OneToOneField(Hold, null=True, blank=True, on_delete=models.PROTECT)
    txid = models.CharField(max_length=128, blank=True)
    confirmations = models.PositiveIntegerField(default=0)
    reviewed_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
                                    related_name="+")  # fmt: skip
    failure_reason = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)
    # Set and committed before the chain is asked to send: from then on the withdrawal cannot be
    # cancelled (the coins may be on their way) and every retry re-sends with the same reference.
    send_started_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["txid"], name="wallets_withdrawal_txid")]  # the admin's txid search
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0) & Q(fee__gte=0), name="wallets_withdrawal_amounts")
        ]

    def __str__(self) -> str:
        return f"withdrawal #{self.pk} {self.amount} {self.currency_id} ({self.status})"


class WithdrawalAddress(models.Model):
    """An entry of a user's withdrawal address book (apps.wallets.address_book).

    Confirmed with a 2FA code, it can be withdrawn to at once. An entry is also registered,
    unconfirmed, by the first withdrawal to an address not in the book; that address becomes usable
    WITHDRAWAL_ADDRESS_COOLDOWN_HOURS after `created_at`."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="withdrawal_addresses")
    currency = models.ForeignKey(Currency, on_delete=models.PROTECT)
    address = models.CharField(max_length=128)
    label = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    confirmed_at = models.DateTimeField(null=True, blank=True, help_text="When a 2FA code confirmed it.")

    class Meta:
        verbose_name_plural = "withdrawal addresses"
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["user", "currency", "address"], name="wallets_one_withdrawal_address")
        ]

    def __str__(self) -> str:
        return f"{self.address} ({self.currency_id}, {'confirmed' if self.confirmed_at else 'cooling down'})"
