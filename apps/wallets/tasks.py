"""Wallet background work (thin, idempotent, safe to run twice at once)."""

from celery import shared_task
from django.db import OperationalError

from apps.wallets import custody, deposits, reconciliation, withdrawals
from apps.wallets.models import Currency
from apps.wallets.simchain import SimulatedChain

# Transient failures (a dropped connection, a deadlock victim, the node unreachable) are retried
# with exponential backoff; every task is idempotent, so a retry or a duplicate run is harmless.
RETRY = {"autoretry_for": (OSError, OperationalError), "retry_backoff": True, "retry_backoff_max": 300,
         "max_retries": 10}  # fmt: skip


@shared_task(name="apps.wallets.tasks.process_deposits", **RETRY)
def process_deposits() -> dict:
    return deposits.process_deposits()


@shared_task(name="apps.wallets.tasks.mine_simulated_blocks", **RETRY)
def mine_simulated_blocks() -> dict:
    """Development only: the simulated chain makes a block for every currency it carries."""
    return {c.code: SimulatedChain(c.code).mine() for c in Currency.objects.filter(is_active=True)}


@shared_task(name="apps.wallets.tasks.reconcile", **RETRY)
def reconcile(trigger: str = "beat") -> bool:
    return reconciliation.reconcile(trigger=trigger).ok


@shared_task(name="apps.wallets.tasks.send_withdrawals", **RETRY)
def send_withdrawals() -> dict:
    return withdrawals.send_approved()


@shared_task(name="apps.wallets.tasks.follow_withdrawals", **RETRY)
def follow_withdrawals() -> int:
    return withdrawals.follow_confirmations()


@shared_task(name="apps.wallets.tasks.follow_custody_transfers", **RETRY)
def follow_custody_transfers() -> int:
    return custody.follow_transfers()


@shared_task(name="apps.wallets.tasks.custody_policy", **RETRY)
def custody_policy() -> dict:
    return custody.run_policy()
