"""KYC reads. Other apps ask these for a user's level and limits; nothing else reads KYC tables."""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings

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
