"""The double-entry ledger: currencies, accounts, transactions and their entries, holds.

Sign convention: an entry's `amount` is credit-positive, and every transaction's entries sum to
zero per currency (a deferred database trigger refuses to commit one that does not). Each account
has a normal side: liabilities (what the exchange owes: users' funds, fee revenue) grow with
credits, assets (what it holds: hot and cold wallets, money in transit) grow with debits. Balances
are kept on the normal side, so every balance is non-negative (CHECK constraints), and

    sum(liability balances) - sum(asset balances) == sum(all entries) == 0

per currency, which is invariant 3: users + fees == hot + cold + in transit.

Only apps.wallets.ledger writes these tables; entries and transactions are append-only (triggers).
"""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q

from apps.core import money

# Every amount column of the exchange (other apps' tables too): 18 decimals, the most a currency has.
AMOUNT = {"max_digits": 36, "decimal_places": 18}


class Currency(models.Model):
    code = models.CharField(max_length=10, primary_key=True)
    name = models.CharField(max_length=64)
    decimals = models.PositiveSmallIntegerField(help_text="Smallest unit is 10^-decimals (at most 18).")
    confirmations = models.PositiveSmallIntegerField(default=1)
    withdrawal_fee = models.DecimalField(default=0, **AMOUNT)
    min_withdrawal = models.DecimalField(default=0, **AMOUNT)
    auto_approve_limit = models.DecimalField(default=0, **AMOUNT, help_text="Withdrawals up to this go out unreviewed.")
    hot_min = models.DecimalField(default=0, **AMOUNT)
    hot_target = models.DecimalField(default=0, **AMOUNT)
    hot_max = models.DecimalField(default=0, **AMOUNT)
    # Value of one unit in KYC_LIMIT_CURRENCY for daily withdrawal limits, set by operations until
    # market prices exist. Without one, withdrawals of this currency are refused (limit unknown).
    limit_reference_price = models.DecimalField(null=True, blank=True, **AMOUNT)
    is_active = models.BooleanField(default=True)
    # Withdrawal protections: operations (or the kill switch) stop withdrawals of one currency.
    withdrawals_halted = models.BooleanField(default=False, help_text="New withdrawals are refused; none is sent.")
    withdrawals_halt_reason = models.CharField(max_length=200, blank=True)

    class Meta:
        verbose_name_plural = "currencies"
        constraints = [
            models.CheckConstraint(condition=Q(decimals__lte=18), name="wallets_currency_decimals_le_18"),
            models.CheckConstraint(
                condition=Q(hot_min__lte=models.F("hot_target")) & Q(hot_target__lte=models.F("hot_max")),
                name="wallets_currency_hot_policy_ordered",
            ),
        ]

    def __str__(self) -> str:
        return self.code

    def clean(self):
        """Amounts of the policy fit the currency's precision (a fee of 0.000000001 BTC could
        never be charged)."""
        errors = {}
        for field in ("withdrawal_fee", "min_withdrawal", "auto_approve_limit", "hot_min", "hot_target", "hot_max"):
            value = getattr(self, field)
            if self.decimals is not None and value is not None and not money.fits(value, self.decimals):
                errors[field] = f"At most {self.decimals} decimals for {self.code}."
            elif value is not None and value < 0:
                errors[field] = "Must not be negative."
        if errors:
            raise ValidationError(errors)


class Account(models.Model):
    class Kind(models.TextChoices):
        USER = "user", "User funds"
        FEES = "fees", "Fee revenue"
        HOT = "hot", "Hot wallet"
        COLD = "cold", "Cold wallet"
        DEPOSITS_IN_TRANSIT = "deposits_in_transit", "Deposits in transit"
        WITHDRAWALS_IN_TRANSIT = "withdrawals_in_transit", "Withdrawals in transit"
        # A sweep or refill between the exchange's own wallets, sent and not yet confirmed.
        CUSTODY_IN_TRANSIT = "custody_in_transit", "Custody transfers in transit"
        # Sandbox mode only: the asset side of test funds credited by the faucet (apps.sandbox).
        SANDBOX_ISSUANCE = "sandbox_issuance", "Sandbox issuance"

    LIABILITIES = (Kind.USER, Kind.FEES)

    kind = models.CharField(max_length=32, choices=Kind.choices)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
                             related_name="ledger_accounts")  # fmt: skip
    currency = models.ForeignKey(Currency, on_delete=models.PROTECT)
    # Balances, on the account's normal side. `locked` is only used by user accounts (holds).
    available = models.DecimalField(default=0, **AMOUNT)
    locked = models.DecimalField(default=0, **AMOUNT)

    class Meta:
        verbose_name = "ledger account"
        constraints = [
            models.UniqueConstraint(
                fields=["user", "currency"], condition=Q(kind="user"), name="wallets_one_user_account_per_currency"
            ),
            models.UniqueConstraint(
                fields=["kind", "currency"], condition=~Q(kind="user"), name="wallets_one_system_account_per_currency"
            ),
            models.CheckConstraint(
                condition=Q(kind="user", user__isnull=False) | (~Q(kind="user") & Q(user__isnull=True)),
                name="wallets_account_owner_matches_kind",
            ),
            models.CheckConstraint(condition=Q(available__gte=0), name="wallets_available_non_negative"),
            models.CheckConstraint(condition=Q(locked__gte=0), name="wallets_locked_non_negative"),
            # What an entry's (account, currency) foreign key refers to (Entry).
            models.UniqueConstraint(fields=["id", "currency"], name="wallets_account_id_currency"),
        ]

    def __str__(self) -> str:
        owner = self.user if self.kind == self.Kind.USER else self.get_kind_display()
        return f"{owner} {self.currency_id}"

    @property
    def is_liability(self) -> bool:
        return self.kind in self.LIABILITIES


class Transaction(models.Model):
    class Kind(models.TextChoices):
        DEPOSIT = "deposit", "Deposit"
        WITHDRAWAL = "withdrawal", "Withdrawal"
        HOLD = "hold", "Hold"
        RELEASE = "release", "Release of a hold"
        TRADE = "trade", "Trade"
        FEE = "fee", "Fee"
        TRANSFER = "transfer", "Transfer"
        CUSTODY = "custody", "Custody movement"
        ADJUSTMENT = "adjustment", "Adjustment"
        FAUCET = "faucet", "Sandbox faucet"

    kind = models.CharField(max_length=16, choices=Kind.choices)
    idempotency_key = models.CharField(max_length=128, unique=True)
    reference_type = models.CharField(max_length=64, blank=True)
    reference_id = models.CharField(max_length=64, blank=True)
    memo = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        verbose_name = "ledger transaction"
        indexes = [models.Index(fields=["reference_type", "reference_id"])]

    def __str__(self) -> str:
        return f"#{self.pk} {self.kind} {self.idempotency_key}"


class Entry(models.Model):
    class Bucket(models.TextChoices):
        AVAILABLE = "available", "Available"
        LOCKED = "locked", "Locked"

    transaction = models.ForeignKey(Transaction, on_delete=models.PROTECT, related_name="entries")
    # Account and currency are checked by one composite foreign key, (account_id, currency_id) ->
    # wallets_account (id, currency_id) (migration 0011): an entry's currency is its account's, and
    # the matcher's settlement writes thousands of entries per commit, each foreign key one lookup.
    # Indexed with the id (Meta): an account's entries in order, read from a cursor by the portfolio.
    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="entries", db_index=False,
                                db_constraint=False)  # fmt: skip
    # No index of its own: entries are read by transaction or account, never by currency alone.
    currency = models.ForeignKey(Currency, on_delete=models.PROTECT, db_index=False, db_constraint=False)
    bucket = models.CharField(max_length=9, choices=Bucket.choices, default=Bucket.AVAILABLE)
    amount = models.DecimalField(**AMOUNT, help_text="Credit-positive.")

    class Meta:
        verbose_name = "ledger entry"
        verbose_name_plural = "ledger entries"
        indexes = [models.Index(fields=["account", "id"], name="wallets_entry_account_id")]
        constraints = [models.CheckConstraint(condition=~Q(amount=0), name="wallets_entry_not_zero")]

    def __str__(self) -> str:
        return f"{self.amount:+} {self.currency_id} {self.bucket} on account {self.account_id}"


class Hold(models.Model):
    """Funds of a user account set aside for an owner object (an order, a withdrawal)."""

    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        RELEASED = "released", "Released"
        CONSUMED = "consumed", "Consumed"

    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="holds")
    owner_type = models.CharField(max_length=64)
    owner_id = models.CharField(max_length=64)
    amount = models.DecimalField(**AMOUNT, help_text="What is still held.")
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.ACTIVE)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["owner_type", "owner_id", "account"], name="wallets_one_hold_per_owner"),
            models.CheckConstraint(condition=Q(amount__gte=0), name="wallets_hold_non_negative"),
        ]

    def __str__(self) -> str:
        return f"hold of {self.amount} for {self.owner_type}:{self.owner_id} ({self.status})"
