"""The matcher's durable cursor per market, written in the same transaction as each settled batch."""

from django.db import models

from apps.markets.models import Market
from apps.wallets.models import AMOUNT


class MarketState(models.Model):
    market = models.OneToOneField(Market, primary_key=True, on_delete=models.PROTECT, related_name="state")
    last_stream_id = models.CharField(max_length=40, default="0-0", help_text="Last applied stream entry.")
    book_sequence = models.BigIntegerField(default=0, help_text="Grows by one per book update.")
    last_price = models.DecimalField(null=True, blank=True, **AMOUNT)
    commands_applied = models.BigIntegerField(default=0)
    gate = models.JSONField(default=dict, blank=True, help_text="Halt and circuit-breaker state (matching.gate).")
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.market_id} at {self.last_stream_id}"
