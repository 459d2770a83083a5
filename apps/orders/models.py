"""Orders. `place_order` writes a row and its hold; after that only the matcher changes an order's
fill state and status (it is the single writer of a market's open orders). The one field the API
writes afterwards is `cancel_requested_at`, so a cancel survives until the matcher applies it."""

from django.conf import settings
from django.db import models
from django.db.models import F, Q

from apps.markets.models import Market
from apps.wallets.models import AMOUNT, Hold


class Order(models.Model):
    class Side(models.TextChoices):
        BUY = "buy", "Buy"
        SELL = "sell", "Sell"

    class Type(models.TextChoices):
        LIMIT = "limit", "Limit"
        MARKET = "market", "Market"
        STOP_LIMIT = "stop_limit", "Stop limit"
        STOP_MARKET = "stop_market", "Stop market"

    class TimeInForce(models.TextChoices):
        GTC = "gtc", "Good till cancelled"
        IOC = "ioc", "Immediate or cancel"
        FOK = "fok", "Fill or kill"

    class Status(models.TextChoices):
        NEW = "new", "New"
        PARTIALLY_FILLED = "partially_filled", "Partially filled"
        FILLED = "filled", "Filled"
        CANCELLED = "cancelled", "Cancelled"
        REJECTED = "rejected", "Rejected"
        EXPIRED = "expired", "Expired"

    class SelfTradePrevention(models.TextChoices):
        CANCEL_RESTING = "cancel_resting", "Cancel the resting order"
        CANCEL_TAKER = "cancel_taker", "Cancel the incoming order"

    OPEN = (Status.NEW, Status.PARTIALLY_FILLED)
    FINAL = (Status.FILLED, Status.CANCELLED, Status.REJECTED, Status.EXPIRED)

    id = models.BigAutoField(primary_key=True)
    # Both covered by the composite indexes below: no single-column index to maintain on every update.
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="orders", db_index=False)
    market = models.ForeignKey(Market, on_delete=models.PROTECT, related_name="orders", db_index=False)
    side = models.CharField(max_length=4, choices=Side.choices)
    type = models.CharField(max_length=11, choices=Type.choices)
    time_in_force = models.CharField(max_length=3, choices=TimeInForce.choices, default=TimeInForce.GTC)
    post_only = models.BooleanField(default=False)
    self_trade_prevention = models.CharField(
        max_length=14, choices=SelfTradePrevention.choices, default=SelfTradePrevention.CANCEL_RESTING
    )
    price = models.DecimalField(null=True, blank=True, **AMOUNT)
    stop_price = models.DecimalField(null=True, blank=True, **AMOUNT)
    quantity = models.DecimalField(null=True, blank=True, **AMOUNT, help_text="Base; empty for a buy by quote.")
    quote_quantity = models.DecimalField(null=True, blank=True, **AMOUNT, help_text="Market buys by quote amount.")
    client_order_id = models.CharField(max_length=64, blank=True)
    # Fill state, written by the matcher.
    filled_quantity = models.DecimalField(default=0, **AMOUNT)
    filled_quote = models.DecimalField(default=0, **AMOUNT, help_text="Sum of price x quantity of the fills.")
    fee = models.DecimalField(default=0, **AMOUNT, help_text="In the currency this side receives.")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.NEW)
    reason = models.CharField(max_length=32, blank=True, help_text="Why it was rejected or expired.")
    hold = models.OneToOneField(Hold, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    # Engine bookkeeping: `applied` once the matcher has applied the `new` command (so a repeat of it
    # is ignored); `priority` is the order's time priority in the book (or its arm sequence as a stop).
    applied = models.BooleanField(default=False)
    triggered = models.BooleanField(default=False)
    priority = models.BigIntegerField(null=True, blank=True)
    cancel_requested_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        indexes = [
            models.Index(fields=["user", "-created_at", "-id"], name="orders_user_recent"),
            models.Index(fields=["user", "market", "-created_at", "-id"], name="orders_user_market_recent"),
            # The admin's list filters, newest first (apps/orders/admin.py): a page is an index scan.
            models.Index(fields=["status", "-id"], name="orders_status_recent"),
            models.Index(fields=["market", "-id"], name="orders_market_recent"),
            # The open-orders limit counts a user's open orders on a market: a small partial index.
            models.Index(
                fields=["user", "market"], name="orders_user_open", condition=Q(status__in=["new", "partially_filled"])
            ),
            # Recovery reads a market's open orders in priority order; the partial index stays small.
            models.Index(
                fields=["market", "priority", "id"],
                name="orders_open_by_priority",
                condition=Q(status__in=["new", "partially_filled"]),
            ),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["user", "client_order_id"], condition=~Q(client_order_id=""), name="orders_client_order_id"
            ),
            models.CheckConstraint(condition=Q(filled_quantity__gte=0), name="orders_filled_non_negative"),
            models.CheckConstraint(
                condition=Q(quantity__isnull=True) | Q(filled_quantity__lte=F("quantity")),
                name="orders_not_overfilled",
            ),
            models.CheckConstraint(
                condition=Q(quantity__isnull=False) | Q(quote_quantity__isnull=False), name="orders_has_an_amount"
            ),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.side} {self.type} {self.market_id}"

    @property
    def is_open(self) -> bool:
        return self.status in self.OPEN

    @property
    def average_price(self):
        if not self.filled_quantity:
            return None
        return self.filled_quote / self.filled_quantity
