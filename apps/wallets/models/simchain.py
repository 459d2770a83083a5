"""The simulated chain's tables (apps.wallets.simchain): addresses, block heights, transactions."""

from django.db import models

from apps.wallets.models.ledger import AMOUNT


class SimAddress(models.Model):
    currency = models.CharField(max_length=10)
    address = models.CharField(max_length=64, unique=True)
    wallet = models.CharField(max_length=16)  # hot | cold | external
    # Deposit addresses belong to the hot wallet but are never its main (sending/refill) address.
    is_deposit = models.BooleanField(default=False)

    def __str__(self) -> str:
        return self.address


class SimBlockHeight(models.Model):
    currency = models.CharField(max_length=10, primary_key=True)
    height = models.PositiveIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.currency} at {self.height}"


class SimTransaction(models.Model):
    currency = models.CharField(max_length=10)
    txid = models.CharField(max_length=64, unique=True)
    reference = models.CharField(max_length=128, null=True, blank=True, unique=True)
    from_address = models.CharField(max_length=64, blank=True)
    to_address = models.CharField(max_length=64, db_index=True)
    amount = models.DecimalField(**AMOUNT)
    block = models.PositiveIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.txid
