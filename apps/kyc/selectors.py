"""KYC reads. Other apps ask these for a user's level and limits; nothing else reads KYC tables."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.db.models import Count, Q
from django.utils import timezone

from apps.accounts.identity import claims_of
from apps.kyc.models import Submission

S = Submission.Status


def level_for(user) -> int:
    """2: an approved identity; 1: identity data submitted and not (yet) refused; 0: none.

    A user made from an access token's checked claims answers from them, without a query (a change of
    level replaces the user's claims marker: apps.kyc.signals)."""
    if not getattr(user, "pk", None):
        return 0
    claims = claims_of(user)
    if claims is not None:
        return claims.kyc_level
    statuses = list(
        Submission.objects.filter(user=user).order_by("-created_at", "-id").values_list("status", flat=True)
    )
    if S.APPROVED in statuses:
        return 2
    if statuses and statuses[0] in (S.PENDING, S.IN_REVIEW, S.RESUBMISSION_REQUESTED):
        return 1
    return 0


def limits_for(user) -> dict:
    level = level_for(user)
    policy = settings.KYC_LEVELS[level]
    return {
        "level": level,
        "name": policy["name"],
        "trading": policy["trading"],
        "daily_withdrawal_limit": Decimal(policy["daily_withdrawal_limit"]),
        "limit_currency": settings.KYC_LIMIT_CURRENCY,
    }


def submissions_for(user):
    return Submission.objects.filter(user=user).order_by("-created_at", "-id")


def overview(user) -> dict:
    submissions = list(submissions_for(user))
    return {
        "level": level_for(user),
        "status": submissions[0].status if submissions else "none",
        "limits": limits_for(user),
        "submissions": submissions,
    }


# The queue-age chart's buckets: (label, from hours, to hours); None is open-ended.
QUEUE_AGE_BUCKETS = [("< 1 h", 0, 1), ("1-4 h", 1, 4), ("4-24 h", 4, 24), ("1-3 days", 24, 72), ("> 3 days", 72, None)]


def queue_summary(reviewer, now: datetime | None = None) -> dict:
    """The compliance queue for the admin dashboard, in three indexed queries (open cases by status,
    the oldest pending case, the decisions since midnight UTC): open cases (pending and in review),
    pending, claimed by `reviewer`, the open cases' ages in QUEUE_AGE_BUCKETS, the oldest pending case
    and its age against KYC_REVIEW_TARGET_HOURS, and the decisions of the day."""
    now = now or timezone.now()
    open_cases = Submission.objects.filter(status__in=Submission.OPEN_STATUSES)
    buckets = {}
    for n, (_label, low, high) in enumerate(QUEUE_AGE_BUCKETS):
        window = Q(created_at__lte=now - timedelta(hours=low))
        if high is not None:
            window &= Q(created_at__gt=now - timedelta(hours=high))
        buckets[f"bucket{n}"] = Count("id", filter=window)
    figures = open_cases.aggregate(
        open=Count("id"),
        pending=Count("id", filter=Q(status=S.PENDING)),
        mine=Count("id", filter=Q(status=S.IN_REVIEW, reviewer=reviewer)),
        **buckets,
    )
    oldest = Submission.objects.filter(status=S.PENDING).order_by("created_at", "id").values("id", "created_at").first()
    today = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    decided_today = Submission.objects.filter(decided_at__gte=today).count()
    target = timedelta(hours=settings.KYC_REVIEW_TARGET_HOURS)
    oldest_age = now - oldest["created_at"] if oldest else None
    return {
        "open": figures["open"],
        "pending": figures["pending"],
        "claimed_by_me": figures["mine"],
        "age_buckets": [
            {"label": label, "from_hours": low, "to_hours": high, "count": figures[f"bucket{n}"]}
            for n, (label, low, high) in enumerate(QUEUE_AGE_BUCKETS)
        ],
        "oldest_pending_id": oldest["id"] if oldest else None,
        "oldest_pending_age": oldest_age,
        "review_target": target,
        "over_target": oldest_age is not None and oldest_age > target,
        "decided_today": decided_today,
        "today": today,
    }
