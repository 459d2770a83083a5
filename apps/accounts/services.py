"""Account writes: registration, login and tokens, two-factor, API keys.

Every function owns its transaction. Secrets (passwords, TOTP keys, API secrets, backup codes) are
returned to the caller once and never logged.
"""

from __future__ import annotations

import base64
import io
import secrets
from dataclasses import dataclass

import qrcode
import qrcode.image.svg
from django.conf import settings
from django.contrib.auth import authenticate, get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken
from rest_framework_simplejwt.tokens import RefreshToken, Token
from rest_framework_simplejwt.utils import get_md5_hash_password

from apps.accounts import identity, markers
from apps.accounts.exceptions import (
    ApiKeyNotFound,
    InvalidCredentials,
    InvalidOtp,
    InvalidToken,
    OtpRequired,
    OtpRequiredForAction,
    TwoFactorAlreadyEnabled,
    TwoFactorNotEnabled,
    TwoFactorNotPending,
    WrongOtpCode,
)
from apps.accounts.models import ApiKey, User
from apps.core import crypto
from apps.core.exceptions import DomainError

TOTP_DEVICE_NAME = "authenticator"
BACKUP_DEVICE_NAME = "backup"


class RegistrationRejected(DomainError):
    code = "invalid_request"
    status_code = 400
    default_message = "The request is invalid; see details."


# --- Registration -------------------------------------------------------------------------------


def register_user(*, email: str, username: str, password: str) -> User:
    """Create a basic-tier user. Duplicate email or username (case-insensitive) and passwords that
    fail Django's validators are refused with per-field details; nothing is written then."""
    User = get_user_model()
    candidate = User(email=email, username=username)
    errors: dict[str, list[str]] = {}
    if User.objects.filter(email__iexact=email).exists():
        errors["email"] = ["A user with this email already exists."]
    if User.objects.filter(username__iexact=username).exists():
        errors["username"] = ["A user with this username already exists."]
    try:
        validate_password(password, user=candidate)
    except DjangoValidationError as exc:
        errors["password"] = list(exc.messages)
    if errors:
        raise RegistrationRejected(details=errors)
    try:
        with transaction.atomic():
            return User.objects.create_user(username=username, email=email, password=password)
    except IntegrityError as exc:  # a concurrent registration won the race
        raise RegistrationRejected(
            details={"username": ["A user with this email or username already exists."]}
        ) from exc


# --- Login and tokens ---------------------------------------------------------------------------


@dataclass(frozen=True)
class TokenPair:
    access: str
    refresh: str


def _issue_tokens(user: User, *, session: str | None = None, refused=InvalidToken) -> TokenPair:
    """A token pair claiming what the database says now (apps.accounts.identity). The user's marker
    is read first, so a change committed after this read makes these tokens' claims stale. `session`
    continues a login's session (refresh); None starts one. `refused` is raised if the user is gone,
    was disabled or changed password since the caller checked `user` (the new tokens would otherwise
    carry the new password's hash and outlive the change)."""
    marker = markers.ensure_user(user.pk)
    current = identity.current(user.pk)
    if current is None or not current[0].is_active or current[0].password != user.password:
        raise refused()
    user, claims = current
    refresh = RefreshToken.for_user(user)
    identity.stamp(refresh, claims, marker, session or refresh["jti"])
    return TokenPair(access=str(refresh.access_token), refresh=str(refresh))


def login(*, username: str, password: str, otp_code: str | None, request=None) -> TokenPair:
    """Check the password and, when two-factor is on, a TOTP or backup code (each accepted once).

    The same `invalid_credentials` answers an unknown user and a wrong password."""
    user = authenticate(request, username=username, password=password)
    if user is None:
        raise InvalidCredentials()
    if _confirmed_totp(user) is not None:
        if not otp_code:
            raise OtpRequired()
        if not verify_otp(user=user, code=otp_code):
            raise InvalidOtp()
    user.last_login = timezone.now()
    user.save(update_fields=["last_login"])
    return _issue_tokens(user, refused=InvalidCredentials)


def refresh_tokens(*, refresh: str) -> TokenPair:
    """Rotate a refresh token: the old one is revoked, a new pair is returned.

    The outstanding-token row is locked (as by logout), so two concurrent refreshes of one token
    cannot both succeed: a stolen token raced against its owner yields one pair, not two."""
    with transaction.atomic():
        token, outstanding = _lock_live_refresh_token(refresh)
        user = get_user_model().objects.filter(pk=token.get("user_id"), is_active=True).first()
        if user is None or token.get("hash_password") != _password_hash_claim(user):
            raise InvalidToken()
        BlacklistedToken.objects.create(token=outstanding)
        return _issue_tokens(user, session=token.get("sid"))


def _decode_refresh(refresh: str) -> RefreshToken:
    try:
        token = RefreshToken(refresh, verify=False)
        # Signature, expiry and type only (Token.verify, not the blacklist-checking override): the
        # blacklist is read under the row lock by the callers.
        Token.verify(token)
    except TokenError as exc:
        raise InvalidToken() from exc
    return token


def _lock_live_refresh_token(refresh: str) -> tuple[RefreshToken, OutstandingToken]:
    """The token and its row, locked; InvalidToken if it is bad, unknown or already revoked."""
    token = _decode_refresh(refresh)
    outstanding = OutstandingToken.objects.select_for_update().filter(jti=token["jti"]).first()
    if outstanding is None or BlacklistedToken.objects.filter(token=outstanding).exists():
        raise InvalidToken()
    return token, outstanding


def _password_hash_claim(user: User) -> str:
    return get_md5_hash_password(user.password)


def logout(*, user: User, refresh: str) -> None:
    """Revoke the caller's refresh token and end its session: the session's access tokens are refused
    from now on (apps.accounts.markers), the user's other sessions are untouched. Idempotent: an
    already revoked token of the caller's is fine."""
    token = _decode_refresh(refresh)
    if str(token.get("user_id")) != str(user.pk):
        raise InvalidToken()
    with transaction.atomic():
        outstanding = OutstandingToken.objects.select_for_update().filter(jti=token["jti"]).first()
        if outstanding is None:
            raise InvalidToken()
        BlacklistedToken.objects.get_or_create(token=outstanding)
    if token.get("sid"):
        markers.end_session(str(token["sid"]))


# --- Two-factor ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class TwoFactorSetup:
    secret: str
    otpauth_uri: str
    qr_svg: str


def _confirmed_totp(user: User) -> TOTPDevice | None:
    return TOTPDevice.objects.filter(user=user, confirmed=True).first()


def begin_two_factor_setup(*, user: User) -> TwoFactorSetup:
    """A new, unconfirmed authenticator secret (replacing any earlier unconfirmed one)."""
    with transaction.atomic():
        get_user_model().objects.select_for_update().get(pk=user.pk)
        if _confirmed_totp(user) is not None:
            raise TwoFactorAlreadyEnabled()
        TOTPDevice.objects.filter(user=user, confirmed=False).delete()
        device = TOTPDevice.objects.create(user=user, name=TOTP_DEVICE_NAME, confirmed=False)
    image = qrcode.make(device.config_url, image_factory=qrcode.image.svg.SvgPathImage)
    buffer = io.BytesIO()
    image.save(buffer)
    return TwoFactorSetup(
        secret=base64.b32encode(device.bin_key).decode().rstrip("="),
        otpauth_uri=device.config_url,
        qr_svg=buffer.getvalue().decode(),
    )


def confirm_two_factor(*, user: User, code: str) -> list[str]:
    """Activate the pending authenticator with a current code; returns single-use backup codes."""
    code = (code or "").strip().replace(" ", "")
    with transaction.atomic():
        device = TOTPDevice.objects.select_for_update().filter(user=user, confirmed=False).first()
        if device is None:
            if _confirmed_totp(user) is not None:
                raise TwoFactorAlreadyEnabled()
            raise TwoFactorNotPending()
        verified = _verify_device(device, code)
        if verified:
            codes = _activate(user, device)
    # Raised after the commit, so that django-otp's failure count (the back-off) is kept.
    if not verified:
        raise WrongOtpCode()
    return codes


def _activate(user: User, device: TOTPDevice) -> list[str]:
    device.confirmed = True
    device.save(update_fields=["confirmed"])
    StaticDevice.objects.filter(user=user).delete()
    backup = StaticDevice.objects.create(user=user, name=BACKUP_DEVICE_NAME, confirmed=True)
    codes = [_backup_code() for _ in range(settings.TWO_FACTOR_BACKUP_CODES)]
    StaticToken.objects.bulk_create(StaticToken(device=backup, token=c) for c in codes)
    return codes


def disable_two_factor(*, user: User, code: str) -> None:
    if _confirmed_totp(user) is None:
        raise TwoFactorNotEnabled()
    if not verify_otp(user=user, code=code):
        raise WrongOtpCode()
    with transaction.atomic():
        TOTPDevice.objects.filter(user=user).delete()
        StaticDevice.objects.filter(user=user).delete()


def verify_otp(*, user: User, code: str) -> bool:
    """A current TOTP code (±1 step of drift, never one already used) or an unused backup code.

    Devices are locked while checking, so one code cannot pass twice in concurrent requests.
    django-otp's throttling slows down a run of wrong codes (delay doubles after each)."""
    code = (code or "").strip().replace(" ", "")
    if not code or len(code) > 16 or not code.isascii() or not code.isalnum():
        return False
    with transaction.atomic():
        totp = TOTPDevice.objects.select_for_update().filter(user=user, confirmed=True).first()
        if totp is not None and code.isdigit() and len(code) == totp.digits and _verify_device(totp, code):
            return True
        backup = StaticDevice.objects.select_for_update().filter(user=user, confirmed=True).first()
        # Backup codes are issued in lower case; people type them back however they like.
        return backup is not None and not code.isdigit() and _verify_device(backup, code.lower())


def require_second_factor(*, user: User, code: str | None) -> None:
    """For sensitive actions of a logged-in user: nothing when 2FA is off; else a valid code."""
    if _confirmed_totp(user) is None:
        return
    if not code:
        raise OtpRequiredForAction()
    if not verify_otp(user=user, code=code):
        raise WrongOtpCode()


def _verify_device(device, code: str) -> bool:
    allowed, _ = device.verify_is_allowed()
    return bool(allowed) and device.verify_token(code)


def _backup_code() -> str:
    # Letters and digits, never digits only, so a backup code can never be taken for a TOTP code.
    alphabet = "abcdefghjkmnpqrstuvwxyz23456789"
    while True:
        code = "".join(secrets.choice(alphabet) for _ in range(10))
        if not code.isdigit():
            return code


# --- API keys -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class NewApiKey:
    api_key: ApiKey
    secret: str


def create_api_key(
    *, user: User, label: str, permissions: list[str], ip_allowlist: list[str], otp_code: str | None = None
) -> NewApiKey:
    """A new key with a random 256-bit secret, stored encrypted; the secret is returned once.

    With two-factor on, a current code is required too: a stolen access token alone must not be
    able to mint a lasting key."""
    require_second_factor(user=user, code=otp_code)
    secret = secrets.token_urlsafe(32)
    api_key = ApiKey.objects.create(
        user=user,
        label=label,
        permissions=sorted(set(permissions)),
        ip_allowlist=ip_allowlist,
        secret_encrypted=crypto.encrypt(secret),
    )
    return NewApiKey(api_key=api_key, secret=secret)


def revoke_api_key(*, user: User, api_key_id: int) -> None:
    """Revoke at once: the next request signed with it is refused. Another user's key is not found."""
    if not revoke_api_keys(keys=ApiKey.objects.filter(pk=api_key_id, user=user)):
        raise ApiKeyNotFound()


def revoke_api_keys(*, keys) -> int:
    """Revoke the live keys of a queryset (the owner's DELETE, staff's admin action) and move their
    versions, so that no web process's cached copy (apps.accounts.keyring) is used again. Returns how
    many were revoked."""
    with transaction.atomic():
        live = list(keys.select_for_update().filter(revoked_at__isnull=True).values_list("pk", "key"))
        ApiKey.objects.filter(pk__in=[pk for pk, _ in live]).update(revoked_at=timezone.now())
        markers.api_keys_changed([key for _, key in live])
    return len(live)


def record_api_key_use(*, api_key: ApiKey) -> None:
    """Record the key's last use. Callers write at most once per API_KEY_LAST_USED_RESOLUTION_SECONDS
    per key across every process (the admission script's stamp in Redis says when): a write per
    request would cost more than the request."""
    now = timezone.now()
    ApiKey.objects.filter(pk=api_key.pk).update(last_used_at=now)
    api_key.last_used_at = now
