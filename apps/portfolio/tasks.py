"""Portfolio background work (thin, idempotent)."""

from celery import shared_task
from django.db import OperationalError

from apps.portfolio import services


@shared_task(name="apps.portfolio.tasks.take_snapshots", autoretry_for=(OSError, OperationalError),
             retry_backoff=True, retry_backoff_max=300, max_retries=10)  # fmt: skip
def take_snapshots() -> dict:
    """Today's snapshot for every user: a second run the same day adds nothing."""
    return services.snapshot_all()
