"""The sandbox faucet: test funds, credited through the ledger like any other money.

A credit is ONE balanced ledger transaction of kind `faucet`: the currency's sandbox issuance
account is debited and the user's available balance credited by the same amount. The issuance
account is an asset-side system account (like the hot wallet on a deposit), so its balance grows
with every credit and the ledger invariants hold as they are: every transaction sums to zero,
every balance equals its entries, and users + fees == hot + cold + in transit + sandbox issuance.
It is no chain wallet: reconciliation counts it on the held side and never compares it with a chain.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from decimal import Decimal, localcontext

from django.conf import settings
from django.db import transaction

from apps.core import audit, money
from apps.core.exceptions import ServiceUnavailable
from apps.sandbox import limits
from apps.sandbox.exceptions import InvalidFaucetRequest, RequestIdReused, SandboxModeOff
from apps.wallets import ledger
from apps.wallets.deposits import active_currency
from apps.wallets.models import Account, Currency, Transaction

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class FaucetLimits:
    currency: Currency
    default_amount: Decimal
    max_amount: Decimal


@dataclass(frozen=True)
class FaucetCredit:
    transaction: Transaction
    currency: Currency
    amount: Decimal
    available: Decimal  # the user's balance right after this credit (for a repeat: now)
    locked: Decimal
    created: bool  # False: a repeat of an earlier request id, nothing credited this time


def limits_for(currency: Currency) -> FaucetLimits:
    try:
        amounts = limits.amounts_for(currency.code)
    except ValueError as exc:
        # The system check (sandbox.E002) refuses this at start; a process that skipped the checks
        # answers 503 and logs it, rather than guessing an amount.
        logger.error("sandbox faucet misconfigured: %s", exc)
        raise ServiceUnavailable("The faucet is not configured for this currency.") from exc
    return FaucetLimits(currency=currency, default_amount=amounts.default, max_amount=amounts.max)


def all_limits() -> list[FaucetLimits]:
    return [limits_for(currency) for currency in Currency.objects.filter(is_active=True).order_by("code")]


def credit(*, user, currency_code: str, amount: Decimal | None, request_id: str) -> FaucetCredit:
    """Credit `amount` (the currency's default when None) of an active currency to the user's
    available balance, in one ledger transaction from the sandbox issuance account.

    Idempotent per user and `request_id` (the ledger key is `faucet:<user id>:<request id>`): a
    repeat credits nothing and returns the first credit; the same id with another currency or
    amount is refused (409 `idempotency_conflict`). Refused with 404 when sandbox mode is off, 404
    `unknown_currency`, and 400 `invalid_request` for an amount that is not positive, finer than
    the currency's decimals, or above the per-request maximum. Locks: the user's and the issuance
    account rows (ledger.post, ascending id order), until the caller's transaction ends."""
    if not settings.EXCHANGE_SANDBOX:
        raise SandboxModeOff()
    if not request_id or len(request_id) > 64:
        raise ValueError("request_id: 1 to 64 characters")
    currency = active_currency(currency_code)
    faucet = limits_for(currency)
    amount = faucet.default_amount if amount is None else amount
    _check_amount(amount, faucet)
    issuance = ledger.system_account(Account.Kind.SANDBOX_ISSUANCE, currency)
    mine = ledger.user_account(user, currency)
    with transaction.atomic():
        txn = ledger.post(
            kind=Transaction.Kind.FAUCET, idempotency_key=f"faucet:{user.pk}:{request_id}",
            reference=("faucet", request_id), memo=f"sandbox faucet: {amount} {currency.code}",
            legs=[ledger.Leg(issuance, -amount), ledger.Leg(mine, amount)],
        )  # fmt: skip
        if txn.created:
            audit.record(actor=user, action="sandbox.faucet_credited", target=txn, currency=currency.code,
                         amount=str(amount))  # fmt: skip
        else:
            first = txn.entries.filter(account=mine).values_list("amount", flat=True).first()
            if first != amount:  # None: the id was used for another currency
                raise RequestIdReused(details={"request_id": request_id})
        mine.refresh_from_db(fields=["available", "locked"])
    return FaucetCredit(transaction=txn, currency=currency, amount=amount, available=mine.available,
                        locked=mine.locked, created=txn.created)  # fmt: skip


def _check_amount(amount: Decimal, faucet: FaucetLimits) -> None:
    currency = faucet.currency
    if not amount.is_finite() or amount <= 0:
        raise InvalidFaucetRequest("amount", "Must be greater than zero.")
    if amount > faucet.max_amount:  # first: what is left to quantize is small
        raise InvalidFaucetRequest("amount", f"At most {faucet.max_amount} {currency.code} per request.")
    with localcontext() as context:
        context.prec = 80
        if not money.fits(amount, currency.decimals):
            raise InvalidFaucetRequest("amount", f"{currency.code} has at most {currency.decimals} decimal places.")
