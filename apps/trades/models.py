"""Trades: one row per fill, written by the matcher in the same transaction as its ledger postings."""

from django.conf import settings
from django.db import models
from django.db.models import Q

from apps.markets.models import Market
from apps.wallets.models import AMOUNT


class Trade(models.Model):
    class Side(models.TextChoices):
        BUY = "buy", "Buy"
        SELL = "sell", "Sell"

    id = models.BigAutoField(primary_key=True)
    # Every foreign key is covered by an index of Meta.indexes: no extra single-column ones.
    market = models.ForeignKey(Market, on_delete=models.PROTECT, related_name="trades", db_index=False)
    price = models.DecimalField(**AMOUNT)
    quantity = models.DecimalField(**AMOUNT)
    quote_quantity = models.DecimalField(**AMOUNT, help_text="price x quantity")
    taker_side = models.CharField(max_length=4, choices=Side.choices)
    buy_order = models.ForeignKey("orders.Order", on_delete=models.PROTECT, related_name="+", db_index=False)
    sell_order = models.ForeignKey("orders.Order", on_delete=models.PROTECT, related_name="+", db_index=False)
    buyer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", db_index=False)
    seller = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", db_index=False)
    buyer_fee = models.DecimalField(**AMOUNT, help_text="In base, taken from what the buyer receives.")
    seller_fee = models.DecimalField(**AMOUNT, help_text="In quote, taken from what the seller receives.")
    created_at = models.DateTimeField(db_index=False)

    class Meta:
        indexes = [
            models.Index(fields=["market", "-id"], name="trades_market_recent"),
            # A user's fills, newest first, from a (time, id) cursor: all markets or one.
            models.Index(fields=["buyer", "-created_at", "-id"], name="trades_buyer_time"),
            models.Index(fields=["seller", "-created_at", "-id"], name="trades_seller_time"),
            models.Index(fields=["buyer", "market", "-created_at", "-id"], name="trades_buyer_market_time"),
            models.Index(fields=["seller", "market", "-created_at", "-id"], name="trades_seller_market_time"),
            models.Index(fields=["buy_order"], name="trades_buy_order"),
            models.Index(fields=["sell_order"], name="trades_sell_order"),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(price__gt=0, quantity__gt=0), name="trades_positive"),
            models.CheckConstraint(condition=Q(buyer_fee__gte=0, seller_fee__gte=0), name="trades_fees_non_negative"),
            models.CheckConstraint(condition=~Q(buyer=models.F("seller")), name="trades_no_self_trade"),
        ]

    def __str__(self) -> str:
        return f"trade #{self.pk} {self.quantity} @ {self.price} {self.market_id}"
