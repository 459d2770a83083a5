"""Who is asking, without a database query: the claims an access token carries (docs/accounts.md "Authentication").

Besides simplejwt's own (`user_id`, `exp`, `iat`, `jti`, `token_type`, `hash_password`) a token claims:
`sid` (the session: the login it descends from, kept by refresh rotation, ended by logout), `rev` and
`cv` (the user's markers when it was issued, apps.accounts.markers), `tier`, `kyc` (KYC level, which
decides whether the user may trade), `tfa` (two-factor on), `username` and `email`. `is_active` is
implied: tokens are issued to active users only, and disabling a user revokes them.

The request's user is then a real `User` instance made from the claims (`_state.adding` False, so it
filters and saves like a loaded one) with every other field deferred: reading one (`password`,
`is_staff`, `date_joined`, ...) loads it from the database, as a `.only()` queryset would. Code that
needs the claims asks `claims_of(user)`, which answers None for a user read from the database or
whose claims changed in this process since the request was checked: callers then read the database.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from django.db import DEFAULT_DB_ALIAS, transaction
from django_otp.plugins.otp_totp.models import TOTPDevice

from apps.accounts import markers
from apps.accounts.markers import UserMarker
from apps.accounts.models import User

CLAIM_NAMES = ("sid", "rev", "cv", "tier", "kyc", "tfa", "username", "email")


@dataclass(frozen=True)
class Claims:
    user_id: int
    username: str
    email: str
    tier: str
    kyc_level: int
    two_factor: bool
    session: str = ""
    marker: UserMarker | None = None


def current(user_id) -> tuple[User, Claims] | None:
    """The user and what a token issued now would claim, read from the database; None if there is no
    such user. Read the user's marker (markers.ensure_user) before calling this: the user's row is
    read under a lock, which waits for a change that moved the marker to commit."""
    with transaction.atomic():
        user = User.objects.select_for_update(no_key=True).filter(pk=user_id).first()
        if user is None:
            return None
        claims = Claims(user.pk, user.username, user.email, user.tier, kyc_level(user), two_factor_enabled(user))
    return user, claims


def stamp(token, claims: Claims, marker: UserMarker, session: str) -> None:
    """Write the claims into a (refresh) token; its access tokens copy them."""
    token["sid"], token["rev"], token["cv"] = session, marker.rev, marker.cv
    token["tier"], token["kyc"], token["tfa"] = claims.tier, claims.kyc_level, claims.two_factor
    token["username"], token["email"] = claims.username, claims.email


def claims_in(token) -> Claims | None:
    """The claims of a validated token; None for a token issued without them (simplejwt's for_user)."""
    payload = token.payload
    if not all(name in payload for name in CLAIM_NAMES):
        return None
    try:
        return Claims(
            user_id=int(payload["user_id"]), username=str(payload["username"]), email=str(payload["email"]),
            tier=str(payload["tier"]), kyc_level=int(payload["kyc"]), two_factor=bool(payload["tfa"]),
            session=str(payload["sid"]), marker=UserMarker(str(payload["rev"]), str(payload["cv"])),
        )  # fmt: skip
    except (KeyError, TypeError, ValueError):
        return None


_FROM_CLAIMS = ("id", "username", "email", "tier", "is_active")


def user_from(claims: Claims) -> User:
    """A User made from checked claims, without a query (other fields load when read)."""
    data = {"id": claims.user_id, "username": claims.username, "email": claims.email, "tier": claims.tier,
            "is_active": True}  # fmt: skip
    fields = User._meta.concrete_fields
    user = User.from_db(DEFAULT_DB_ALIAS, _FROM_CLAIMS, [data[f.attname] for f in fields if f.attname in data])
    attach(user, claims)
    return user


def attach(user: User, claims: Claims) -> None:
    """Mark `claims` as checked against the markers now (this request may use them)."""
    user.token_claims = claims
    user.token_claims_checked_at = time.monotonic()


def claims_of(user) -> Claims | None:
    """The checked claims the request's user was made from, or None (read the database instead)."""
    claims = getattr(user, "token_claims", None)
    if claims is None:
        return None
    if markers.changed_here_since(claims.user_id, user.token_claims_checked_at):
        return None
    return claims


def two_factor_enabled(user: User) -> bool:
    claims = claims_of(user)
    if claims is not None:
        return claims.two_factor
    return TOTPDevice.objects.filter(user=user, confirmed=True).exists()


def _unverified(user) -> int:
    return 0


# How a user's KYC level is read: apps.kyc registers its reader when the apps load (apps.kyc.apps).
# kyc sits above accounts (its reads start from the claims kept here), so accounts asks through this
# one seam instead of importing it; until kyc registers, nobody is verified.
_kyc_level_reader = _unverified


def read_kyc_level_with(reader) -> None:
    global _kyc_level_reader
    _kyc_level_reader = reader


def kyc_level(user) -> int:
    """The user's KYC level (0, 1 or 2) as apps.kyc decides it."""
    return _kyc_level_reader(user)
