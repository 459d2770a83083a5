"""Wallet background work (thin, idempotent, safe to run twice at once)."""

from celery import shared_task

from apps.wallets import deposits


@shared_task(name="apps.wallets.tasks.process_deposits", autoretry_for=(OSError,), retry_backoff=True)
def process_deposits() -> dict:
    return deposits.process_deposits()


@shared_task(name="apps.wallets.tasks.mine_simulated_blocks")
def mine_simulated_blocks() -> dict:
    """Development only: the simulated chain makes a block for every currency it carries."""
    from apps.wallets.models import Currency
    from apps.wallets.simchain import SimulatedChain

    return {c.code: SimulatedChain(c.code).mine() for c in Currency.objects.filter(is_active=True)}


@shared_task(name="apps.wallets.tasks.reconcile")
def reconcile() -> bool:
    from apps.wallets.reconciliation import reconcile as run

    return run(trigger="beat").ok


@shared_task(name="apps.wallets.tasks.send_withdrawals", autoretry_for=(OSError,), retry_backoff=True)
def send_withdrawals() -> dict:
    from apps.wallets import withdrawals

    return withdrawals.send_approved()


@shared_task(name="apps.wallets.tasks.follow_withdrawals")
def follow_withdrawals() -> int:
    from apps.wallets import withdrawals

    return withdrawals.follow_confirmations()


@shared_task(name="apps.wallets.tasks.custody_policy")
def custody_policy() -> dict:
    from apps.wallets import custody

    return custody.run_policy()
