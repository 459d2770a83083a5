"""Core periodic tasks (thin: call a service)."""

from celery import shared_task

from apps.core import services
from apps.core.idempotency import purge_expired


@shared_task(name="apps.core.tasks.record_heartbeat", ignore_result=False)
def record_heartbeat() -> str:
    worker = record_heartbeat.request.hostname or "unknown"
    return services.record_heartbeat(worker=worker).isoformat()


@shared_task(name="apps.core.tasks.purge_idempotency_keys")
def purge_idempotency_keys() -> int:
    """Idempotency keys past their lifetime (24 h) are forgotten."""
    return purge_expired()
