"""The review life cycle in services: claims, legal and illegal transitions, audit, notices, retention."""

import datetime as dt
import json
import os
from io import StringIO

import pytest
from django.core import mail
from django.core.management import call_command
from django.db import DatabaseError, transaction
from django.utils import timezone

from apps.core import audit
from apps.core.models import AuditEvent
from apps.kyc import selectors, services
from apps.kyc.exceptions import AlreadyClaimed, IllegalTransition, SubmissionRejected
from apps.kyc.models import Submission
from apps.kyc.tests.conftest import submission_form

pytestmark = pytest.mark.django_db
S = Submission.Status


@pytest.fixture
def submission(applicant):
    form = submission_form()
    files = {k: form.pop(k) for k in ("document_front", "document_back", "selfie")}
    form["date_of_birth"] = dt.date.fromisoformat(form["date_of_birth"])
    return services.submit(user=applicant, data=form, files=files)


def in_status(submission, status, reviewer):
    """Bring a submission to `status` through the legal path."""
    if status == S.PENDING:
        return submission
    services.claim(submission_id=submission.pk, reviewer=reviewer)
    if status == S.APPROVED:
        services.approve(submission_id=submission.pk, reviewer=reviewer)
    elif status == S.REJECTED:
        services.reject(submission_id=submission.pk, reviewer=reviewer, reason="expired")
    elif status == S.RESUBMISSION_REQUESTED:
        services.request_resubmission(submission_id=submission.pk, reviewer=reviewer, missing="back side")
    submission.refresh_from_db()
    assert submission.status == status
    return submission


def test_claim_then_approve_raises_the_level(submission, applicant, reviewer):
    services.claim(submission_id=submission.pk, reviewer=reviewer)
    submission.refresh_from_db()
    assert (submission.status, submission.reviewer) == (S.IN_REVIEW, reviewer)
    assert selectors.level_for(applicant) == 1
    services.approve(submission_id=submission.pk, reviewer=reviewer)
    submission.refresh_from_db()
    assert submission.status == S.APPROVED and submission.decided_at is not None
    limits = selectors.limits_for(applicant)
    assert (limits["level"], limits["trading"], str(limits["daily_withdrawal_limit"])) == (2, True, "100000")


def test_a_claimed_case_belongs_to_its_reviewer(submission, reviewer, second_reviewer):
    services.claim(submission_id=submission.pk, reviewer=reviewer)
    with pytest.raises(AlreadyClaimed):
        services.claim(submission_id=submission.pk, reviewer=second_reviewer)
    with pytest.raises(AlreadyClaimed):
        services.approve(submission_id=submission.pk, reviewer=second_reviewer)
    services.release(submission_id=submission.pk, reviewer=reviewer)
    services.claim(submission_id=submission.pk, reviewer=second_reviewer)
    submission.refresh_from_db()
    assert submission.reviewer == second_reviewer


ALL_STATUSES = [S.PENDING, S.IN_REVIEW, S.APPROVED, S.REJECTED, S.RESUBMISSION_REQUESTED]
ILLEGAL = [
    (status, action)
    for status in ALL_STATUSES
    for action, (sources, _) in services.TRANSITIONS.items()
    if status not in sources
]


@pytest.mark.parametrize(("status", "action"), ILLEGAL)
def test_every_illegal_transition_is_refused_and_changes_nothing(submission, reviewer, status, action):
    submission = in_status(submission, status, reviewer)
    events = AuditEvent.objects.count()
    kwargs = {"reject": {"reason": "expired"}, "request_resubmission": {"missing": "x"}}.get(action, {})
    with pytest.raises((IllegalTransition, AlreadyClaimed)):
        getattr(services, action)(submission_id=submission.pk, reviewer=reviewer, **kwargs)
    submission.refresh_from_db()
    assert submission.status == status
    assert AuditEvent.objects.count() == events


def test_reject_needs_a_listed_reason_and_text_for_other(submission, reviewer):
    services.claim(submission_id=submission.pk, reviewer=reviewer)
    with pytest.raises(SubmissionRejected):
        services.reject(submission_id=submission.pk, reviewer=reviewer, reason="i_dont_like_it")
    with pytest.raises(SubmissionRejected):
        services.reject(submission_id=submission.pk, reviewer=reviewer, reason="other", note="  ")
    with pytest.raises(SubmissionRejected):
        services.request_resubmission(submission_id=submission.pk, reviewer=reviewer, missing="")
    services.reject(submission_id=submission.pk, reviewer=reviewer, reason="other", note="Photo edited")
    submission.refresh_from_db()
    assert (submission.rejection_reason, submission.decision_note) == ("other", "Photo edited")


def test_after_rejection_or_resubmission_the_user_may_submit_again(submission, applicant, reviewer):
    in_status(submission, S.RESUBMISSION_REQUESTED, reviewer)
    assert selectors.level_for(applicant) == 1
    form = submission_form()
    files = {k: form.pop(k) for k in ("document_front", "document_back", "selfie")}
    form["date_of_birth"] = dt.date.fromisoformat(form["date_of_birth"])
    second = services.submit(user=applicant, data=form, files=files)
    assert second.status == S.PENDING


def test_the_audit_trail_tells_who_did_what_when_and_why(submission, applicant, reviewer):
    services.claim(submission_id=submission.pk, reviewer=reviewer)
    services.reject(submission_id=submission.pk, reviewer=reviewer, reason="mismatch", note="Name differs")
    events = list(audit.history(submission))
    assert [(e.action, e.actor) for e in events] == [
        ("kyc.submit", applicant), ("kyc.claim", reviewer), ("kyc.reject", reviewer),
    ]  # fmt: skip
    assert events[2].reason == "mismatch: Name differs"
    assert events[2].data == {"from": "in_review", "to": "rejected"}


def test_the_audit_log_is_append_only_in_the_database(submission):
    event = audit.history(submission).first()
    with pytest.raises(DatabaseError), transaction.atomic():
        AuditEvent.objects.filter(pk=event.pk).update(reason="rewritten")
    with pytest.raises(DatabaseError), transaction.atomic():
        AuditEvent.objects.filter(pk=event.pk).delete()
    assert AuditEvent.objects.get(pk=event.pk).reason == ""


def test_decisions_queue_a_notification_that_sends_one_email(submission, reviewer, django_capture_on_commit_callbacks):
    services.claim(submission_id=submission.pk, reviewer=reviewer)
    with django_capture_on_commit_callbacks() as callbacks:
        services.request_resubmission(submission_id=submission.pk, reviewer=reviewer, missing="The back side")
    assert len(callbacks) == 1  # tasks.notify_decision.delay, after commit
    assert services.send_decision_email(submission_id=submission.pk) is True
    assert services.send_decision_email(submission_id=submission.pk) is False  # once per decision
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == [submission.user.email] and "The back side" in message.body


def test_rejected_files_are_purged_after_the_retention_period(
    submission, reviewer, settings, django_capture_on_commit_callbacks
):
    in_status(submission, S.REJECTED, reviewer)
    paths = [d.file.path for d in submission.documents.all()]
    assert services.purge_expired_documents() == 0
    later = timezone.now() + dt.timedelta(days=settings.KYC_REJECTED_RETENTION_DAYS + 1)
    with django_capture_on_commit_callbacks(execute=True):  # files go once the rows' deletion commits
        assert services.purge_expired_documents(now=later) == 1
    assert services.purge_expired_documents(now=later) == 0
    submission.refresh_from_db()
    assert submission.documents.count() == 0 and submission.files_purged_at is not None
    assert not any(os.path.exists(p) for p in paths)
    assert audit.history(submission).filter(action="kyc.purge_documents").count() == 1


def test_notices_that_could_not_be_queued_are_sent_by_the_sweep(submission, reviewer):
    in_status(submission, S.APPROVED, reviewer)  # on_commit never runs here: as if the broker were down
    assert services.resend_missing_notices() == 1
    assert services.resend_missing_notices() == 0
    assert len(mail.outbox) == 1 and "verified" in mail.outbox[0].subject


def test_approved_files_are_kept(submission, reviewer, settings):
    in_status(submission, S.APPROVED, reviewer)
    later = timezone.now() + dt.timedelta(days=settings.KYC_REJECTED_RETENTION_DAYS + 1)
    assert services.purge_expired_documents(now=later) == 0
    assert submission.documents.count() == 3


def test_export_command_writes_everything_about_the_user(submission, applicant, reviewer, tmp_path):
    in_status(submission, S.APPROVED, reviewer)
    out = StringIO()
    call_command("export_kyc", applicant.username, "--files", str(tmp_path / "files"), stdout=out)
    data = json.loads(out.getvalue())
    assert data["user"]["email"] == applicant.email and data["level"] == 2
    [exported] = data["submissions"]
    assert exported["document_number"] == "C01X00T47"
    assert [h["action"] for h in exported["history"]] == ["kyc.submit", "kyc.claim", "kyc.approve"]
    assert len(list((tmp_path / "files").iterdir())) == 3


def test_retention_runs_from_beat_through_a_registered_task(settings):
    from exchange.celery import app

    entry = settings.CELERY_BEAT_SCHEDULE["kyc-purge-rejected-documents"]
    assert entry["task"] in app.tasks
    assert "apps.kyc.tasks.notify_decision" in app.tasks
