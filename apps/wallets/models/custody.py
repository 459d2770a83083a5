"""Movements between the exchange's own hot and cold wallets (apps.wallets.custody)."""

from django.conf import settings
from django.db import models
from django.db.models import Q

from apps.wallets.models.ledger import AMOUNT, Currency


class CustodyTransfer(models.Model):
    """A movement between the exchange's own hot and cold wallets."""

    class Direction(models.TextChoices):
        SWEEP = "sweep", "Sweep hot to cold"
        REFILL = "refill", "Refill cold to hot"

    class Status(models.TextChoices):
        REQUESTED = "requested", "Requested (needs a second person's approval)"
        APPROVED = "approved", "Approved"
        SENT = "sent", "Sent (in transit until the chain confirms it)"
        CONFIRMED = "confirmed", "Confirmed (arrived)"
        FAILED = "failed", "Failed"
        REJECTED = "rejected", "Rejected"

    currency = models.ForeignKey(Currency, on_delete=models.PROTECT)
    direction = models.CharField(max_length=8, choices=Direction.choices)
    amount = models.DecimalField(**AMOUNT)
    status = models.CharField(max_length=10, choices=Status.choices)
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
                                     related_name="+", help_text="Empty when the system asked (policy).")  # fmt: skip
    approved_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
                                    related_name="+")  # fmt: skip
    txid = models.CharField(max_length=128, blank=True)
    # In transit from sent_at until the chain confirms it (confirmations as last seen by the follow task).
    sent_at = models.DateTimeField(null=True, blank=True)
    confirmations = models.PositiveIntegerField(default=0)
    confirmed_at = models.DateTimeField(null=True, blank=True)
    failure_reason = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="wallets_custody_positive"),
            # Four eyes: whoever approves a refill is not whoever asked for it.
            models.CheckConstraint(
                condition=Q(approved_by__isnull=True)
                | Q(requested_by__isnull=True)
                | ~Q(approved_by=models.F("requested_by")),
                name="wallets_custody_four_eyes",
            ),
            models.UniqueConstraint(
                fields=["currency"],
                condition=Q(direction="refill", status__in=["requested", "approved"]),
                name="wallets_one_open_refill_per_currency",
            ),
            models.UniqueConstraint(
                fields=["currency"],
                condition=Q(direction="sweep", status="approved"),
                name="wallets_one_open_sweep_per_currency",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_direction_display()} {self.amount} {self.currency_id} ({self.status})"
