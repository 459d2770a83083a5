"""Holdings, cost basis and PnL per user and currency, derived from the ledger; daily snapshots.

A Position follows one user account's ledger entries in id order from a cursor (`last_entry_id`).
That order is the order the balance changed in: every writer locks an account before adding
entries to it, so an account's entries commit in id order and an entry the cursor passed can never
appear later. Amounts in the valuation currency are NUMERIC like every amount.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q

from apps.wallets.models import AMOUNT, Account, Currency


class Position(models.Model):
    account = models.OneToOneField(Account, primary_key=True, on_delete=models.PROTECT, related_name="position")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="positions")
    currency = models.ForeignKey(Currency, on_delete=models.PROTECT, related_name="+", db_index=False)
    valuation_currency = models.ForeignKey(Currency, on_delete=models.PROTECT, related_name="+", db_index=False)
    quantity = models.DecimalField(default=0, **AMOUNT, help_text="Total (available + locked) at the cursor.")
    cost = models.DecimalField(default=0, **AMOUNT, help_text="Cost basis of `quantity`, in the valuation currency.")
    realized_pnl = models.DecimalField(default=0, **AMOUNT, help_text="In the valuation currency, fees included.")
    unpriced = models.BooleanField(
        default=False, help_text="Some of `quantity` was acquired when no price path to the valuation currency "
        "existed: its cost is unknown until the position is closed.")  # fmt: skip
    realized_incomplete = models.BooleanField(
        default=False, help_text="A sale's proceeds or cost could not be valued: `realized_pnl` leaves it out."
    )
    last_entry_id = models.BigIntegerField(default=0, help_text="The last ledger entry of the account applied.")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(quantity__gte=0, cost__gte=0), name="portfolio_position_non_negative"),
        ]

    def __str__(self) -> str:
        return f"{self.quantity} {self.currency_id} at cost {self.cost} {self.valuation_currency_id}"


class Snapshot(models.Model):
    """A user's portfolio value once a day (UTC), for the value-history chart."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", db_index=False)
    date = models.DateField()
    valuation_currency = models.ForeignKey(Currency, on_delete=models.PROTECT, related_name="+", db_index=False)
    total_value = models.DecimalField(**AMOUNT)
    total_cost = models.DecimalField(**AMOUNT)
    realized_pnl = models.DecimalField(**AMOUNT)
    unrealized_pnl = models.DecimalField(**AMOUNT)
    assets = models.JSONField(default=dict, help_text="{currency: {total, price, value}} as decimal strings.")
    taken_at = models.DateTimeField()

    class Meta:
        verbose_name = "portfolio snapshot"
        constraints = [models.UniqueConstraint(fields=["user", "date"], name="portfolio_one_snapshot_per_day")]

    def __str__(self) -> str:
        return f"{self.user_id} {self.date}: {self.total_value} {self.valuation_currency_id}"
