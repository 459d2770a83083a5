"""kyc.selectors.queue_summary, the compliance dashboard's figures, against hand-computed values."""

import datetime as dt

import pytest

from apps.kyc import selectors
from apps.kyc.models import Submission
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db
NOW = dt.datetime(2026, 3, 10, 12, 0, tzinfo=dt.UTC)


def case(status="pending", hours=0.0, reviewer=None, decided_at=None, **fields):
    row = Submission.objects.create(
        user=UserFactory(), status=status, full_name="Case", country="DE", date_of_birth=dt.date(1990, 1, 1),
        document_type="passport", document_number="X", reviewer=reviewer, decided_at=decided_at, **fields,
    )  # fmt: skip
    Submission.objects.filter(pk=row.pk).update(created_at=NOW - dt.timedelta(hours=hours))
    return row


def test_queue_summary(settings):
    settings.KYC_REVIEW_TARGET_HOURS = 24
    me, colleague = UserFactory(), UserFactory()
    oldest = case(hours=80)  # > 3 days
    case(hours=30)  # 1-3 days
    case(hours=0.5)  # < 1 h
    case("in_review", hours=2, reviewer=me)  # 1-4 h
    case("in_review", hours=5, reviewer=colleague)  # 4-24 h
    case("approved", hours=100, reviewer=colleague, decided_at=NOW.replace(hour=0, minute=30))  # today
    case(
        "rejected", hours=100, reviewer=colleague, decided_at=NOW - dt.timedelta(hours=13), rejection_reason="expired"
    )  # yesterday 23:00
    summary = selectors.queue_summary(me, NOW)
    assert (summary["open"], summary["pending"], summary["claimed_by_me"], summary["decided_today"]) == (5, 3, 1, 1)
    assert [b["count"] for b in summary["age_buckets"]] == [1, 1, 1, 1, 1]
    assert summary["oldest_pending_id"] == oldest.pk
    assert summary["oldest_pending_age"] == dt.timedelta(hours=80) and summary["over_target"]
    settings.KYC_REVIEW_TARGET_HOURS = 100
    assert not selectors.queue_summary(me, NOW)["over_target"]


def test_an_empty_queue():
    summary = selectors.queue_summary(UserFactory(), NOW)
    assert (summary["open"], summary["oldest_pending_id"], summary["over_target"]) == (0, None, False)
