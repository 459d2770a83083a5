"""The trading-pair registry. A market's filters (tick, lot, minimum notional) and fees are read by
order placement and by the matcher; the matcher picks up new markets while it runs."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import F, Q

from apps.wallets.models import AMOUNT, Currency

RATE = {"max_digits": 8, "decimal_places": 6}
CIRCUIT_BREAKER = "circuit_breaker"  # Market.status_reason of a halt by the matcher's circuit breaker (matching.gate)
KILL_SWITCH = "kill_switch"  # ... of a halt by the kill switch (markets.services.engage_kill_switch)
MAX_FEE = Decimal("0.1")


def decimals_of(step: Decimal) -> int:
    """Places after the point of a step size (0.01 -> 2, 5 -> 0)."""
    return max(0, -step.normalize().as_tuple().exponent)


def is_halted(status: str, reason: str, until: datetime | None, now: datetime) -> bool:
    """Halted at `now`: a circuit-breaker halt whose cool-down has ended no longer counts (the matcher
    resumes the market at its first order after that moment)."""
    if status != Market.Status.HALTED:
        return False
    return not (reason == CIRCUIT_BREAKER and until is not None and until <= now)


class Market(models.Model):
    class Status(models.TextChoices):
        TRADING = "trading", "Trading"
        HALTED = "halted", "Halted"

    symbol = models.CharField(max_length=24, unique=True, help_text="BASE-QUOTE, for example BTC-USDT.")
    base = models.ForeignKey(Currency, on_delete=models.PROTECT, related_name="+")
    quote = models.ForeignKey(Currency, on_delete=models.PROTECT, related_name="+")
    tick_size = models.DecimalField(**AMOUNT, help_text="Prices are multiples of this (quote currency).")
    lot_size = models.DecimalField(**AMOUNT, help_text="Quantities are multiples of this (base currency).")
    min_notional = models.DecimalField(default=0, **AMOUNT, help_text="Smallest price x quantity (quote).")
    maker_fee = models.DecimalField(default=Decimal("0.001"), **RATE, help_text="Rate, 0.001 = 0.1 %.")
    taker_fee = models.DecimalField(default=Decimal("0.002"), **RATE, help_text="Rate, 0.002 = 0.2 %.")
    # Pre-trade checks (apps.orders.checks); empty means off.
    max_order_quantity = models.DecimalField(null=True, blank=True, **AMOUNT,
                                             help_text="Largest quantity of one order (base).")  # fmt: skip
    max_order_notional = models.DecimalField(null=True, blank=True, **AMOUNT,
                                             help_text="Largest price x quantity of one order (quote).")  # fmt: skip
    price_band = models.DecimalField(
        null=True, blank=True, max_digits=8, decimal_places=6,
        help_text="A limit price more than this fraction away from the reference price (the last trade, or the "
        "mid of the book before the first trade) is refused: 0.1 = 10 %.")  # fmt: skip
    max_open_orders = models.PositiveIntegerField(
        null=True, blank=True, help_text="Open orders one user may have on this market.")  # fmt: skip
    # Risk controls applied by the matcher (apps.matching.engine, apps.matching.gate); empty means off.
    market_order_collar = models.DecimalField(
        null=True, blank=True, max_digits=8, decimal_places=6,
        help_text="A market order trades no further than this fraction from the best price when it starts "
        "matching; the rest expires: 0.05 = 5 %.")  # fmt: skip
    breaker_move = models.DecimalField(
        null=True, blank=True, max_digits=8, decimal_places=6,
        help_text="Circuit breaker: a trade more than this fraction away from the low or high of the window "
        "halts the market: 0.1 = 10 %.")  # fmt: skip
    breaker_window_seconds = models.PositiveIntegerField(default=60, help_text="Circuit breaker window.")
    breaker_cooldown_seconds = models.PositiveIntegerField(
        null=True, blank=True, default=300,
        help_text="Trading resumes this long after the breaker trips; empty: only a staff resume.")  # fmt: skip
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.TRADING)
    status_reason = models.CharField(max_length=200, blank=True)
    halted_until = models.DateTimeField(null=True, blank=True, help_text="End of a circuit-breaker halt.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["symbol"]
        permissions = [("use_kill_switch", "Can halt all trading and withdrawals (kill switch)")]
        constraints = [
            models.CheckConstraint(condition=Q(tick_size__gt=0), name="markets_tick_positive"),
            models.CheckConstraint(condition=Q(lot_size__gt=0), name="markets_lot_positive"),
            models.CheckConstraint(condition=Q(min_notional__gte=0), name="markets_min_notional_non_negative"),
            models.CheckConstraint(
                condition=Q(maker_fee__gte=0, maker_fee__lt=MAX_FEE, taker_fee__gte=0, taker_fee__lt=MAX_FEE),
                name="markets_fees_in_range",
            ),
            models.CheckConstraint(condition=~Q(base=F("quote")), name="markets_base_is_not_quote"),
            models.CheckConstraint(
                condition=(Q(max_order_quantity__isnull=True) | Q(max_order_quantity__gt=0))
                & (Q(max_order_notional__isnull=True) | Q(max_order_notional__gt=0))
                & (Q(price_band__isnull=True) | Q(price_band__gt=0, price_band__lt=1))
                & (Q(max_open_orders__isnull=True) | Q(max_open_orders__gt=0)),
                name="markets_pre_trade_limits_positive",
            ),
            models.CheckConstraint(
                condition=(
                    Q(market_order_collar__isnull=True) | Q(market_order_collar__gt=0, market_order_collar__lt=1)
                )
                & (Q(breaker_move__isnull=True) | Q(breaker_move__gt=0, breaker_move__lt=1))
                & Q(breaker_window_seconds__gt=0)
                & (Q(breaker_cooldown_seconds__isnull=True) | Q(breaker_cooldown_seconds__gt=0)),
                name="markets_matcher_controls_in_range",
            ),
            models.UniqueConstraint(fields=["base", "quote"], name="markets_one_market_per_pair"),
        ]

    def __str__(self) -> str:
        return self.symbol

    def halted_at(self, now: datetime) -> bool:
        return is_halted(self.status, self.status_reason, self.halted_until, now)

    @property
    def price_decimals(self) -> int:
        return decimals_of(self.tick_size)

    @property
    def quantity_decimals(self) -> int:
        return decimals_of(self.lot_size)

    @property
    def notional_unit(self) -> Decimal:
        """Value in quote of one lot at one tick: the engine's integer unit of money."""
        return self.tick_size * self.lot_size

    def clean(self):
        errors = {}
        if not self.symbol and self.base_id and self.quote_id:
            self.symbol = f"{self.base_id}-{self.quote_id}"
        if self.base_id and self.quote_id:
            if self.base_id == self.quote_id:
                errors["quote"] = "Base and quote must differ."
            expected = f"{self.base_id}-{self.quote_id}"
            if self.symbol and self.symbol != expected:
                errors["symbol"] = f"The symbol of this pair is {expected}."
        for field in ("tick_size", "lot_size"):
            value = getattr(self, field)
            if value is not None and value <= 0:
                errors[field] = "Must be greater than zero."
        for field in ("maker_fee", "taker_fee"):
            value = getattr(self, field)
            if value is not None and not (0 <= value < MAX_FEE):
                errors[field] = f"A rate from 0 up to {MAX_FEE} (exclusive)."
        if self.min_notional is not None and self.min_notional < 0:
            errors["min_notional"] = "Must not be negative."
        if not errors and self.base_id and self.quote_id and self.tick_size and self.lot_size:
            base, quote = self.base, self.quote
            if decimals_of(self.lot_size) > base.decimals:
                errors["lot_size"] = f"{base.code} has {base.decimals} decimals."
            if decimals_of(self.tick_size) > quote.decimals:
                errors["tick_size"] = f"{quote.code} has {quote.decimals} decimals."
            elif decimals_of(self.notional_unit) > quote.decimals:
                # Every trade's value (price x quantity) must be payable in whole units of the quote.
                errors["tick_size"] = (
                    f"tick x lot ({self.notional_unit.normalize()}) must fit {quote.code}'s {quote.decimals} decimals."
                )
        if errors:
            raise ValidationError(errors)


class Candle(models.Model):
    """OHLCV of one market over one interval, kept by settlement in the transaction of its trades.

    Intervals align to UTC from the Unix epoch (a day starts at 00:00 UTC). `open` is the price of
    the first trade settled in the interval, `close` of the last (highest trade id)."""

    class Interval(models.TextChoices):
        MINUTE = "1m", "1 minute"
        FIVE_MINUTES = "5m", "5 minutes"
        HOUR = "1h", "1 hour"
        DAY = "1d", "1 day"

    # The unique constraint's index (market, interval, open_time) covers the foreign key.
    market = models.ForeignKey(Market, on_delete=models.CASCADE, related_name="candles", db_index=False)
    interval = models.CharField(max_length=2, choices=Interval.choices)
    open_time = models.DateTimeField(help_text="Start of the interval (UTC).")
    open = models.DecimalField(**AMOUNT)
    high = models.DecimalField(**AMOUNT)
    low = models.DecimalField(**AMOUNT)
    close = models.DecimalField(**AMOUNT)
    volume = models.DecimalField(**AMOUNT, help_text="Base quantity traded.")
    quote_volume = models.DecimalField(**AMOUNT, help_text="Quote value traded (sum of price x quantity).")
    trades = models.PositiveIntegerField(help_text="Number of trades.")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["market", "interval", "open_time"], name="markets_one_candle_per_interval"),
            models.CheckConstraint(
                condition=Q(low__gt=0, high__gte=F("low"))
                & Q(open__gte=F("low"), open__lte=F("high"))
                & Q(close__gte=F("low"), close__lte=F("high")),
                name="markets_candle_prices_in_range",
            ),
            models.CheckConstraint(condition=Q(volume__gte=0, quote_volume__gte=0), name="markets_candle_volumes"),
        ]

    def __str__(self) -> str:
        return f"{self.market_id} {self.interval} {self.open_time:%Y-%m-%d %H:%M}"


CANDLE_INTERVALS: dict[str, timedelta] = {
    Candle.Interval.MINUTE: timedelta(minutes=1),
    Candle.Interval.FIVE_MINUTES: timedelta(minutes=5),
    Candle.Interval.HOUR: timedelta(hours=1),
    Candle.Interval.DAY: timedelta(days=1),
}
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def interval_start(when: datetime, interval: str) -> datetime:
    """Open time of the `interval` candle holding `when`: whole steps from the epoch, in integer
    microseconds (the same bins as PostgreSQL's date_bin from the epoch, used by the backfill)."""
    step = CANDLE_INTERVALS[interval]
    return EPOCH + step * ((when - EPOCH) // step)
