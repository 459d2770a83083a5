"""Account errors (docs/api.md "Accounts"). Rendered by apps.core.errors."""

from rest_framework import exceptions, status

from apps.core.exceptions import Conflict, DomainError


class InvalidCredentials(DomainError):
    code = "invalid_credentials"
    status_code = 401
    default_message = "Invalid username or password."


class OtpRequired(DomainError):
    code = "otp_required"
    status_code = 401
    default_message = "Two-factor authentication is on: send otp_code."


class InvalidOtp(DomainError):
    code = "invalid_otp"
    status_code = 401
    default_message = "The two-factor code is wrong, expired or already used."


class InvalidToken(DomainError):
    code = "invalid_token"
    status_code = 401
    default_message = "The token is invalid, expired or revoked."


class ApiKeyNotFound(DomainError):
    code = "not_found"
    status_code = 404
    default_message = "Not found."


class TwoFactorAlreadyEnabled(Conflict):
    code = "two_factor_already_enabled"
    default_message = "Two-factor authentication is already on; disable it first."


class TwoFactorNotPending(Conflict):
    code = "two_factor_not_pending"
    default_message = "Start with POST /account/2fa/setup."


class TwoFactorNotEnabled(Conflict):
    code = "two_factor_not_enabled"
    default_message = "Two-factor authentication is not on."


# Raised while authenticating a request, where DRF expects its own exception types.
class ApiKeyAuthenticationFailed(exceptions.AuthenticationFailed):
    def __init__(self, code: str, message: str):
        super().__init__(message, code=code)


class IpNotAllowed(exceptions.PermissionDenied):
    status_code = status.HTTP_403_FORBIDDEN
    default_detail = "This API key is not allowed from your address."
    default_code = "ip_not_allowed"


class WrongOtpCode(InvalidOtp):
    """A wrong code where the caller is already logged in (confirm, disable): 400, not 401, so a
    client does not mistake it for an expired session."""

    status_code = 400


class OtpRequiredForAction(DomainError):
    """A logged-in user with 2FA on must confirm a sensitive action with a current code."""

    code = "otp_required"
    status_code = 403
    default_message = "Two-factor authentication is on: send otp_code to confirm this action."
