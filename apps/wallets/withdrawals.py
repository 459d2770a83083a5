"""Withdrawals: request (checks, hold), review, send from the hot wallet, confirm, cancel, fail.

Money: the amount plus the fee is held when the request is accepted; sending consumes the hold
(the user's locked funds pay the hot wallet's outflow and the fee revenue) in the same database
transaction that records the txid; failing or cancelling releases it. Sending is safe to repeat:
the adapter's send is idempotent per withdrawal and the ledger posting per key.

Protections (issue 10): a halted currency (apps.wallets.halts) accepts and sends no withdrawal, and an
address that is not confirmed in the user's address book waits out a cool-down
(apps.wallets.address_book).
"""

from __future__ import annotations

import datetime as dt
import logging
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.db.models import Sum
from django.utils import timezone

from apps.accounts import selectors as account_selectors
from apps.accounts import services as account_services
from apps.core import audit, money
from apps.kyc import selectors as kyc_selectors
from apps.wallets import address_book, halts, ledger
from apps.wallets.chain import ChainRejected, adapter_for
from apps.wallets.deposits import active_currency
from apps.wallets.exceptions import (
    InsufficientFunds,
    InvalidAddress,
    InvalidAmount,
    KycRequired,
    LimitExceeded,
    TwoFactorRequired,
    WithdrawalNotCancellable,
    WithdrawalNotFound,
)
from apps.wallets.models import Account, CustodyTransfer, Withdrawal

logger = logging.getLogger(__name__)
W = Withdrawal.Status
# First key of pg_advisory_xact_lock(int, int) for `lock_hot_spending` ("HS"); the matcher's market
# locks use 0x4D41 ("MA").
SPENDING_LOCK_NAMESPACE = 0x4853


def request_withdrawal(*, user, currency_code: str, amount: Decimal, address: str, otp_code: str) -> Withdrawal:
    """Accept a withdrawal or refuse it with the reason; on refusal nothing is held or written.

    The 2FA code is checked after everything that can be checked without it, so a request refused
    for its address, level, balance or the address's cool-down does not use the code up.

    A halted currency is refused first (403 `withdrawals_halted`), and again under a share lock of
    the currency row in the accepting transaction, so none is accepted once a halt has committed.
    An address not confirmed in the address book and still cooling down is refused with 403
    `address_cooldown`; the first such request registers the address (that registration is kept)."""
    currency = active_currency(currency_code)
    halts.refuse_if_halted(currency)
    if amount <= 0 or not money.fits(amount, currency.decimals):
        raise InvalidAmount(details={"amount": [f"Positive, with at most {currency.decimals} decimals."]})
    if amount < currency.min_withdrawal:
        raise InvalidAmount(details={"amount": [f"The minimum is {currency.min_withdrawal} {currency.code}."]})
    if not account_selectors.two_factor_enabled(user):
        raise TwoFactorRequired()
    if not adapter_for(currency.code).validate_address(address):
        raise InvalidAddress()
    limits = kyc_selectors.limits_for(user)
    if limits["daily_withdrawal_limit"] <= 0:
        raise KycRequired()
    if currency.limit_reference_price is None:
        raise LimitExceeded(f"No reference price is set for {currency.code}; withdrawals are paused.")
    total = amount + currency.withdrawal_fee
    value = total * currency.limit_reference_price  # the fee leaves the account too
    account = ledger.user_account(user, currency)
    account.refresh_from_db()
    if account.available < total:
        raise InsufficientFunds(details={"available": str(account.available), "needed": str(total)})
    _check_daily_limit(user, value, limits)
    address_book.require_usable_address(user=user, currency=currency, address=address)
    account_services.require_second_factor(user=user, code=otp_code)  # a used code is refused

    with transaction.atomic():
        # One request at a time per user, so two cannot both fit under the daily limit.
        get_user_model().objects.select_for_update().get(pk=user.pk)
        halts.refuse_if_halted(halts.lock_halt_state(currency))
        _check_daily_limit(user, value, limits)
        auto = amount <= currency.auto_approve_limit
        withdrawal = Withdrawal.objects.create(
            user=user, currency=currency, address=address, amount=amount, fee=currency.withdrawal_fee,
            reference_value=value, status=W.APPROVED if auto else W.REVIEW,
        )  # fmt: skip
        withdrawal.hold = ledger.hold(account=account, amount=total, owner=("withdrawal", str(withdrawal.pk)))
        withdrawal.save(update_fields=["hold"])
        audit.record(actor=user, action="wallets.withdrawal_requested", target=withdrawal, status=withdrawal.status)
    return withdrawal


def _check_daily_limit(user, value: Decimal, limits: dict) -> None:
    since = timezone.now() - dt.timedelta(hours=24)
    used = Withdrawal.objects.filter(user=user, created_at__gte=since, status__in=Withdrawal.COUNTING).aggregate(
        s=Sum("reference_value")
    )["s"] or Decimal(0)
    if used + value > limits["daily_withdrawal_limit"]:
        raise LimitExceeded(details={"limit": str(limits["daily_withdrawal_limit"]), "used": str(used),
                                     "currency": limits["limit_currency"]})  # fmt: skip


def approve(*, withdrawal_id: int, reviewer) -> Withdrawal:
    with transaction.atomic():
        withdrawal = Withdrawal.objects.select_for_update().get(pk=withdrawal_id)
        if withdrawal.status != W.REVIEW:
            raise WithdrawalNotCancellable(
                f"Only withdrawals in review can be approved (this one is {withdrawal.status})."
            )
        withdrawal.status, withdrawal.reviewed_by = W.APPROVED, reviewer
        withdrawal.save(update_fields=["status", "reviewed_by", "updated_at"])
        audit.record(actor=reviewer, action="wallets.withdrawal_approved", target=withdrawal)
    return withdrawal


def cancel(*, withdrawal_id: int, user=None, actor=None, reason: str = "cancelled by the user") -> Withdrawal:
    """Cancel before sending (the user, or staff rejecting a review); the hold is released."""
    with transaction.atomic():
        query = Withdrawal.objects.select_for_update()
        withdrawal = query.filter(pk=withdrawal_id, **({"user": user} if user else {})).first()
        if withdrawal is None:
            raise WithdrawalNotFound()
        if withdrawal.status not in Withdrawal.CANCELLABLE or withdrawal.send_started_at is not None:
            raise WithdrawalNotCancellable()
        ledger.release(hold_id=withdrawal.hold_id, step="cancel")
        withdrawal.status, withdrawal.failure_reason = W.CANCELLED, reason
        withdrawal.save(update_fields=["status", "failure_reason", "updated_at"])
        audit.record(actor=actor or user, action="wallets.withdrawal_cancelled", target=withdrawal, reason=reason)
    return withdrawal


def send_approved() -> dict[str, int]:
    """The send task's work: every approved withdrawal the hot wallet can cover goes out, except
    those of halted currencies (counted as "halted"; they stay approved for a later run)."""
    counts = {"sent": 0, "waiting": 0, "failed": 0, "halted": 0}
    for pk in Withdrawal.objects.filter(status=W.APPROVED).order_by("created_at").values_list("pk", flat=True):
        counts[send(withdrawal_id=pk)] += 1
    return counts


def send(*, withdrawal_id: int) -> str:
    """Send one approved withdrawal, in two transactions so that a crash at any line is safe:

    1. reserve: decide, under the currency's spending lock (`lock_hot_spending`), that the hot
       wallet covers it on chain and in the ledger net of what is already promised (else it
       waits), and commit `send_started_at` (no cancelling from now on; `in_flight` counts it);
    2. ask the chain to send (idempotent per withdrawal), then consume the hold and record the txid
       in the same transaction. A crash inside 2 is resumed by the next run, which goes straight to
       2 (the reservation stands) and gets the same txid back from the chain.
    A definitive refusal (ChainRejected) fails it and releases the hold; any other error leaves it
    for the retry, because the coins may already have left.

    No chain call is made while an account row is locked (issue 20): settlement locks users' and
    the fee accounts, and a node that takes 30 s to answer must not stop matching. Each step calls
    the chain first and locks accounts after it, for the few statements that write.

    While its currency is halted it is left as it is ("halted"), at either step, and the chain is
    not called; a halt cannot commit while a send is between its check and its commit (the
    currency row is read FOR SHARE across the chain call, which settlement's FOR KEY SHARE never
    waits for)."""
    withdrawal = Withdrawal.objects.select_related("currency").get(pk=withdrawal_id)
    if withdrawal.status == W.APPROVED and withdrawal.send_started_at is None:
        outcome = _reserve(withdrawal_id)
        if outcome is not None:
            return outcome
    with transaction.atomic():
        withdrawal = Withdrawal.objects.select_for_update(of=("self",)).select_related("currency").get(pk=withdrawal_id)
        if withdrawal.status != W.APPROVED:
            return _final(withdrawal)
        currency = withdrawal.currency
        if withdrawal.send_started_at is None:
            return "waiting"  # never sent without the reservation of step 1 (approved just now)
        if halts.lock_halt_state(currency).withdrawals_halted:
            return "halted"  # halted since step 1: send_started_at stays, the next run resumes it
        chain = adapter_for(currency.code)
        try:
            txid = chain.send(wallet="hot", to_address=withdrawal.address, amount=withdrawal.amount,
                              reference=f"withdrawal:{withdrawal.pk}")  # fmt: skip
        except ChainRejected as exc:
            ledger.release(hold_id=withdrawal.hold_id, step="failed")
            withdrawal.status, withdrawal.failure_reason = W.FAILED, str(exc)[:200]
            withdrawal.save(update_fields=["status", "failure_reason", "updated_at"])
            audit.record(actor=None, action="wallets.withdrawal_failed", target=withdrawal, reason=str(exc)[:200])
            return "failed"
        # The chain has answered: from here on, only short writes under the account locks.
        hot_id = ledger.system_account(Account.Kind.HOT, currency).pk
        fees_id = ledger.system_account(Account.Kind.FEES, currency).pk
        accounts = ledger.lock_accounts([withdrawal.hold.account, Account(pk=hot_id), Account(pk=fees_id)])
        legs = [ledger.Leg(accounts[hot_id], withdrawal.amount)]
        if withdrawal.fee:
            legs.append(ledger.Leg(accounts[fees_id], withdrawal.fee))
        ledger.consume(hold_id=withdrawal.hold_id, legs_out=legs, kind="withdrawal",
                       idempotency_key=f"withdrawal:{withdrawal.pk}")  # fmt: skip
        withdrawal.status, withdrawal.txid, withdrawal.sent_at = W.SENT, txid, timezone.now()
        withdrawal.save(update_fields=["status", "txid", "sent_at", "updated_at"])
        audit.record(actor=None, action="wallets.withdrawal_sent", target=withdrawal, txid=txid)
    return "sent"


def _reserve(withdrawal_id: int) -> str | None:
    """Step 1 of `send`: None once `send_started_at` is committed (now or by an earlier run), else
    why not ("waiting", "halted", or the final state it reached meanwhile).

    The chain's balance is read before the hot account is locked, so it may be older than the
    ledger figures read after it; under the spending lock no new reservation can start meanwhile,
    so whatever left the chain since is in `reserved_then` (read before the chain): subtracting
    that from the chain's figure is at least as strict as reading everything under one lock."""
    with transaction.atomic():
        # The withdrawal row first: a concurrent step 2 holds it across its chain call, and waiting
        # for it must not hold the spending lock every withdrawal and sweep of the currency needs.
        withdrawal = Withdrawal.objects.select_for_update(of=("self",)).select_related("currency").get(pk=withdrawal_id)
        currency = withdrawal.currency
        if withdrawal.status != W.APPROVED:
            return _final(withdrawal)
        if withdrawal.send_started_at is not None:
            return None
        lock_hot_spending(currency)
        if currency.withdrawals_halted:
            return "halted"  # checked again under FOR SHARE below; the chain is not asked meanwhile
        # Hot funds already promised: other sends under way, and sweeps decided but not yet made.
        reserved_then = in_flight(currency) + pending_sweeps(currency)
        on_chain = adapter_for(currency.code).balance(wallet="hot", min_confirmations=currency.confirmations)
        if halts.lock_halt_state(currency).withdrawals_halted:
            return "halted"
        # The chain has answered: the hot account is locked only from here to the commit.
        hot = ledger.system_account(Account.Kind.HOT, currency)
        hot_available = ledger.lock_accounts([hot])[hot.pk].available
        reserved = in_flight(currency) + pending_sweeps(currency)
        if min(hot_available - reserved, on_chain - reserved_then) < withdrawal.amount:
            # Never sent short: it waits for a refill; operations see the waiting-time gauge.
            detail = {"withdrawal": withdrawal.pk, "currency": currency.code, "hot": str(hot_available)}
            logger.warning("hot wallet cannot cover withdrawal", extra=detail)
            return "waiting"
        withdrawal.send_started_at = timezone.now()
        withdrawal.save(update_fields=["send_started_at", "updated_at"])
    return None


def _final(withdrawal: Withdrawal) -> str:
    return "sent" if withdrawal.status in (W.SENT, W.CONFIRMED) else "failed"


def lock_hot_spending(currency) -> None:
    """Serialize, until the caller's transaction ends, every decision to spend the currency's hot or
    cold wallet: reserving a withdrawal, deciding and checking a sweep or refill. Those decisions read
    the chain's balance, which can be slow, and must see each other's reservations; a transaction
    advisory lock does that without any account row, so nothing that settlement waits for is held
    while the chain answers. Take it before any account row lock (the row of the withdrawal or
    transfer being decided comes first: nothing holding this lock waits for such a row)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s, hashtext(%s))", [SPENDING_LOCK_NAMESPACE, currency.code])


def in_flight(currency) -> Decimal:
    """Hot funds promised to withdrawals whose send has started but not been posted: neither
    another withdrawal nor a sweep may count on them. Call under `lock_hot_spending` (no new
    reservation meanwhile) and, to compare with the ledger, with the hot account locked."""
    return Withdrawal.objects.filter(currency=currency, status=W.APPROVED, send_started_at__isnull=False).aggregate(
        s=Sum("amount")
    )["s"] or Decimal(0)


def pending_sweeps(currency) -> Decimal:
    return CustodyTransfer.objects.filter(currency=currency, direction="sweep", status="approved").aggregate(
        s=Sum("amount")
    )["s"] or Decimal(0)


def follow_confirmations() -> int:
    confirmed = 0
    for withdrawal in Withdrawal.objects.filter(status=W.SENT).select_related("currency"):
        count = adapter_for(withdrawal.currency_id).confirmations(withdrawal.txid)
        status = W.CONFIRMED if count >= withdrawal.currency.confirmations else W.SENT
        updated = Withdrawal.objects.filter(pk=withdrawal.pk, status=W.SENT).update(confirmations=count, status=status)
        confirmed += int(updated and status == W.CONFIRMED)
    return confirmed


def withdrawals_for(user):
    return Withdrawal.objects.filter(user=user).select_related("currency")


def hot_wallet_shortfall_seconds() -> float:
    """How long the oldest approved withdrawal has waited (0 when none): an alert for operations.
    Withdrawals of halted currencies wait on purpose and do not count."""
    waiting = Withdrawal.objects.filter(status=W.APPROVED, currency__withdrawals_halted=False)
    oldest = waiting.order_by("updated_at").first()
    return (timezone.now() - oldest.updated_at).total_seconds() if oldest else 0.0
