"""KYC background work (thin: call apps.kyc.housekeeping)."""

from celery import shared_task

from apps.kyc import housekeeping


@shared_task(name="apps.kyc.tasks.notify_decision", autoretry_for=(OSError,), retry_backoff=True, max_retries=8)
def notify_decision(submission_id: int) -> bool:
    return housekeeping.send_decision_email(submission_id=submission_id)


@shared_task(name="apps.kyc.tasks.purge_expired_documents")
def purge_expired_documents() -> int:
    return housekeeping.purge_expired_documents()


@shared_task(name="apps.kyc.tasks.resend_missing_notices")
def resend_missing_notices() -> int:
    return housekeeping.resend_missing_notices()
