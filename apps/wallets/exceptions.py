from apps.core.exceptions import DomainError


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
