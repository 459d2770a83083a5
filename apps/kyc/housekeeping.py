"""KYC work after the decisions, run by the tasks (apps.kyc.tasks): telling the user what was decided,
and deleting the files of rejected submissions once their retention period is over.

Its own module so that the tasks need not import apps.kyc.services, which queues them."""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.utils import timezone

from apps.core import audit
from apps.kyc.models import Submission

S = Submission.Status


def delete_files(documents) -> None:
    """Delete the stored files of these documents (their rows are gone or never were)."""
    for document in documents:
        if document.file.name:
            document.file.storage.delete(document.file.name)


def send_decision_email(*, submission_id: int) -> bool:
    """Tell the user what was decided. Idempotent per decision: the audit log remembers it was sent."""
    submission = Submission.objects.select_related("user").get(pk=submission_id)
    if submission.status not in (S.APPROVED, S.REJECTED, S.RESUBMISSION_REQUESTED):
        return False
    key = f"{submission.status}@{submission.decided_at.isoformat() if submission.decided_at else ''}"
    if audit.history(submission).filter(action="kyc.notify", data__decision=key).exists():
        return False
    subject, body = {
        S.APPROVED: ("Your identity is verified", "Your identity verification was approved."),
        S.REJECTED: (
            "Your identity verification was not accepted",
            f"Reason: {submission.get_rejection_reason_display()}. {submission.decision_note}".strip(),
        ),
        S.RESUBMISSION_REQUESTED: (
            "Please submit your identity documents again",
            f"What is missing: {submission.decision_note}",
        ),
    }[submission.status]
    send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, [submission.user.email])
    audit.record(actor=None, action="kyc.notify", target=submission, decision=key)
    return True


def resend_missing_notices(*, within_days: int = 7) -> int:
    """Send the notices of recent decisions that have none yet (the queue was down at the time).
    Safe to run any time: send_decision_email sends once per decision."""
    since = timezone.now() - dt.timedelta(days=within_days)
    decided = Submission.objects.filter(
        status__in=(S.APPROVED, S.REJECTED, S.RESUBMISSION_REQUESTED), decided_at__gte=since
    ).values_list("pk", flat=True)
    return sum(send_decision_email(submission_id=pk) for pk in decided)


def purge_expired_documents(*, now: dt.datetime | None = None) -> int:
    """Delete the files of submissions rejected more than KYC_REJECTED_RETENTION_DAYS ago.
    The submission rows (and the audit trail) stay. Idempotent. Files go only after the rows'
    deletion has committed, so a failure never leaves rows pointing at missing files."""
    cutoff = (now or timezone.now()) - dt.timedelta(days=settings.KYC_REJECTED_RETENTION_DAYS)
    purged = 0
    expired = Submission.objects.filter(status=S.REJECTED, decided_at__lt=cutoff, files_purged_at__isnull=True)
    for submission in expired:
        with transaction.atomic():
            documents = list(submission.documents.all())
            submission.documents.all().delete()
            submission.files_purged_at = timezone.now()
            submission.save(update_fields=["files_purged_at"])
            audit.record(actor=None, action="kyc.purge_documents", target=submission, files=len(documents))
            transaction.on_commit(lambda documents=documents: delete_files(documents))
        purged += 1
    return purged
