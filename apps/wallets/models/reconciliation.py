"""The record of reconciliation runs (apps.wallets.reconciliation)."""

from django.db import models


class ReconciliationRun(models.Model):
    """One reconciliation: the figures per currency and every mismatch found (kept for the record)."""

    started_at = models.DateTimeField(auto_now_add=True, db_index=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    trigger = models.CharField(max_length=16, default="beat")  # beat | admin | command
    ok = models.BooleanField(default=False)
    figures = models.JSONField(default=dict)  # {currency: {users, fees, hot, cold, in_transit, chain_hot, ...}}
    mismatches = models.JSONField(default=list)  # [{check, subject, detail}]

    class Meta:
        ordering = ["-started_at", "-id"]

    def __str__(self) -> str:
        return f"reconciliation {self.started_at:%Y-%m-%d %H:%M} {'OK' if self.ok else 'MISMATCH'}"
