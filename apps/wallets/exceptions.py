from apps.core.exceptions import Conflict, DomainError


class InsufficientFunds(DomainError):
    code = "insufficient_funds"
    status_code = 400
    default_message = "The balance does not cover this."


class UnbalancedTransaction(DomainError):
    code = "unbalanced_transaction"
    status_code = 500
    default_message = "A ledger transaction must sum to zero per currency."


class InvalidAmount(DomainError):
    code = "invalid_request"
    status_code = 400
    default_message = "The amount is not valid for this currency."


class UnknownCurrency(DomainError):
    code = "unknown_currency"
    status_code = 404
    default_message = "No such currency."


class TwoFactorRequired(DomainError):
    code = "two_factor_required"
    status_code = 403
    default_message = "Turn on two-factor authentication to withdraw."


class KycRequired(DomainError):
    code = "kyc_required"
    status_code = 403
    default_message = "Your verification level does not allow withdrawals."


class LimitExceeded(DomainError):
    code = "limit_exceeded"
    status_code = 403
    default_message = "This withdrawal would exceed your daily limit."


class InvalidAddress(DomainError):
    code = "invalid_address"
    status_code = 400
    default_message = "Not a valid address for this currency."


class WithdrawalNotCancellable(DomainError):
    code = "withdrawal_not_cancellable"
    status_code = 409
    default_message = "The withdrawal has been sent and can no longer be cancelled."


class WithdrawalNotFound(DomainError):
    code = "not_found"
    status_code = 404
    default_message = "Not found."


class ChainFaultsRefused(DomainError):
    """Simulated chain fault modes that cannot be set (admin and command only; no API sets them)."""

    code = "invalid_request"
    status_code = 400
    default_message = "These fault modes cannot be set."


class CustodyActionRefused(DomainError):
    code = "custody_action_refused"
    status_code = 409
    default_message = "This custody movement cannot take that step."


class WithdrawalsHalted(DomainError):
    code = "withdrawals_halted"
    status_code = 403
    default_message = "Withdrawals of this currency are halted for now."


class AddressCooldown(DomainError):
    code = "address_cooldown"
    status_code = 403
    default_message = (
        "This address is new: it can be used once its cool-down has passed, or at once after adding it to "
        "your withdrawal address book with a 2FA code."
    )


class WithdrawalAddressExists(Conflict):
    code = "address_exists"
    default_message = "This address is already confirmed in your address book."


class WithdrawalAddressNotFound(DomainError):
    code = "not_found"
    status_code = 404
    default_message = "Not found."
