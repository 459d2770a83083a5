"""The simulated chain's tables (apps.wallets.simchain): addresses, block heights, transactions."""

from django.conf import settings
from django.db import models
from django.db.models import Q

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
    # Fault mode "drop broadcasts": the node took it, the network never will (never mined; the
    # sending wallet counts it as spent, as a node's wallet does until it is abandoned).
    dropped = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.txid


class SimChainFault(models.Model):
    """Faults staff switch on to rehearse incidents on the simulated chain (apps.wallets.chain_faults).
    One row per currency; all off is the same as no row."""

    currency = models.CharField(max_length=10, primary_key=True)
    refuse_sends = models.BooleanField(default=False, help_text="Every send is refused (the node says no).")
    unreachable = models.BooleanField(default=False, help_text="Every call fails: the node does not answer.")
    drop_broadcasts = models.BooleanField(default=False, help_text="Sends are accepted but never confirm.")
    delay_seconds = models.FloatField(default=0, help_text="Every call answers this many seconds late.")
    reason = models.CharField(max_length=200, blank=True)
    set_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                               related_name="+")  # fmt: skip
    set_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(delay_seconds__gte=0) & Q(delay_seconds__lte=120), name="wallets_simchain_fault_delay_range"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.currency} simulated chain faults"
