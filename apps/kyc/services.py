"""KYC writes: submitting identity data and the reviewers' decisions.

Each transition is one function that owns its transaction, locks the submission row, checks that
the transition is legal from the current status (TRANSITIONS), writes the audit log in the same
transaction and, for decisions, notifies the user after commit.
"""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.core.files.base import ContentFile
from django.db import IntegrityError, transaction
from django.utils import timezone

from apps.core import audit
from apps.kyc import tasks
from apps.kyc.exceptions import (
    AlreadyClaimed,
    AlreadyVerified,
    IllegalTransition,
    OpenSubmissionExists,
    SubmissionRejected,
)
from apps.kyc.files import RejectedFile, check_upload

# The notices and the retention sweep live in apps.kyc.housekeeping (the tasks run them); they stay
# callable from here as they always were.
from apps.kyc.housekeeping import delete_files
from apps.kyc.housekeeping import purge_expired_documents as purge_expired_documents
from apps.kyc.housekeeping import resend_missing_notices as resend_missing_notices
from apps.kyc.housekeeping import send_decision_email as send_decision_email
from apps.kyc.models import Document, Submission

S = Submission.Status

# action -> (statuses it may start from, status it leads to)
TRANSITIONS: dict[str, tuple[frozenset[str], str]] = {
    "claim": (frozenset({S.PENDING}), S.IN_REVIEW),
    "release": (frozenset({S.IN_REVIEW}), S.PENDING),
    "approve": (frozenset({S.IN_REVIEW}), S.APPROVED),
    "reject": (frozenset({S.IN_REVIEW}), S.REJECTED),
    "request_resubmission": (frozenset({S.IN_REVIEW}), S.RESUBMISSION_REQUESTED),
}


def legal_actions(status: str) -> list[str]:
    return [action for action, (sources, _) in TRANSITIONS.items() if status in sources]


# --- Submitting ---------------------------------------------------------------------------------


def submit(*, user, data: dict, files: dict) -> Submission:
    """Create a pending submission with its documents.

    Files are checked by content before anything is stored; one open (pending or in review)
    submission per user, enforced under a lock on the user row and by a partial unique index.
    On any failure nothing is left behind: no row, no file."""
    errors: dict[str, list[str]] = {}
    checked = {}
    for kind in ("front", "back", "selfie"):
        upload = files.get(f"document_{kind}" if kind != "selfie" else "selfie")
        if upload is None:
            continue
        try:
            checked[kind] = check_upload(upload)
        except RejectedFile as exc:
            errors[f"document_{kind}" if kind != "selfie" else "selfie"] = [str(exc)]
    if errors:
        raise SubmissionRejected(details=errors)

    saved: list[Document] = []
    try:
        with transaction.atomic():
            get_user_model().objects.select_for_update().get(pk=user.pk)
            if Submission.objects.filter(user=user, status__in=Submission.OPEN_STATUSES).exists():
                raise OpenSubmissionExists()
            if Submission.objects.filter(user=user, status=S.APPROVED).exists():
                raise AlreadyVerified()
            submission = Submission.objects.create(user=user, **data)
            for kind, checked_file in checked.items():
                document = Document(
                    submission=submission,
                    kind=kind,
                    content_type=checked_file.content_type,
                    size=len(checked_file.content),
                    sha256=checked_file.sha256,
                )
                document.file.save("upload", ContentFile(checked_file.content), save=False)
                saved.append(document)
                document.save()
            audit.record(actor=user, action="kyc.submit", target=submission, documents=sorted(checked))
    except IntegrityError as exc:  # a concurrent submission won the race for the open slot
        delete_files(saved)
        raise OpenSubmissionExists() from exc
    except BaseException:
        delete_files(saved)
        raise
    return submission


# --- Reviewing ----------------------------------------------------------------------------------


def _transition(*, submission_id: int, reviewer, action: str, changes: dict, reason: str = "") -> Submission:
    sources, target = TRANSITIONS[action]
    with transaction.atomic():
        submission = Submission.objects.select_for_update().get(pk=submission_id)
        if submission.status not in sources:
            raise IllegalTransition(
                f"Cannot {action.replace('_', ' ')} a submission that is {submission.get_status_display().lower()}.",
                details={"status": submission.status, "allowed": legal_actions(submission.status)},
            )
        if action != "claim" and submission.reviewer_id != reviewer.pk:
            raise AlreadyClaimed(details={"reviewer": str(submission.reviewer)})
        previous = submission.status
        submission.status = target
        for field, value in changes.items():
            setattr(submission, field, value)
        submission.save()
        audit.record(
            actor=reviewer, action=f"kyc.{action}", target=submission, reason=reason,
            **{"from": previous, "to": target},
        )  # fmt: skip
        if target in (S.APPROVED, S.REJECTED, S.RESUBMISSION_REQUESTED):
            # robust: a broker outage must not undo or interrupt the decision; the hourly sweep
            # (resend_missing_notices) sends what could not be queued.
            transaction.on_commit(lambda: tasks.notify_decision.delay(submission.pk), robust=True)
    return submission


def claim(*, submission_id: int, reviewer) -> Submission:
    """Take a pending case (in_review, recorded as the reviewer's) so no one else works it."""
    try:
        return _transition(
            submission_id=submission_id, reviewer=reviewer, action="claim",
            changes={"reviewer": reviewer, "claimed_at": timezone.now()},
        )  # fmt: skip
    except IllegalTransition:
        current = Submission.objects.filter(pk=submission_id).values_list("status", "reviewer_id").first()
        if current and current[0] == S.IN_REVIEW and current[1] != reviewer.pk:
            raise AlreadyClaimed() from None
        raise


def release(*, submission_id: int, reviewer) -> Submission:
    """Give a claimed case back to the queue."""
    return _transition(
        submission_id=submission_id, reviewer=reviewer, action="release",
        changes={"reviewer": None, "claimed_at": None},
    )  # fmt: skip


def approve(*, submission_id: int, reviewer, note: str = "") -> Submission:
    return _transition(
        submission_id=submission_id, reviewer=reviewer, action="approve", reason=note,
        changes={"decided_at": timezone.now(), "decision_note": note},
    )  # fmt: skip


def reject(*, submission_id: int, reviewer, reason: str, note: str = "") -> Submission:
    """Refuse with a reason from Submission.RejectionReason (and free text; required for "other")."""
    if reason not in Submission.RejectionReason.values:
        raise SubmissionRejected(details={"reason": ["Choose a reason from the list."]})
    if reason == Submission.RejectionReason.OTHER and not note.strip():
        raise SubmissionRejected(details={"note": ["Explain the rejection when the reason is 'other'."]})
    return _transition(
        submission_id=submission_id, reviewer=reviewer, action="reject", reason=f"{reason}: {note}".strip(": "),
        changes={"decided_at": timezone.now(), "rejection_reason": reason, "decision_note": note},
    )  # fmt: skip


def request_resubmission(*, submission_id: int, reviewer, missing: str) -> Submission:
    """Ask the user to submit again, saying what is missing or wrong."""
    if not missing.strip():
        raise SubmissionRejected(details={"missing": ["Say what is missing."]})
    return _transition(
        submission_id=submission_id, reviewer=reviewer, action="request_resubmission", reason=missing,
        changes={"decided_at": timezone.now(), "decision_note": missing},
    )  # fmt: skip
