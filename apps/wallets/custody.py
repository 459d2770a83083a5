"""Hot and cold wallets: policy sweeps hot → cold, refills cold → hot with four-eyes approval.

Per currency: hot_min <= hot_target <= hot_max. Above hot_max the sweep moves the excess down to
hot_target into cold. Below hot_min a refill request is raised (one open per currency); staff other
than its requester approve it, then a task executes it (in reality with the offline cold keys).
Each movement is sent on chain and booked from its source into the currency's custody-in-transit
account in one database transaction (the simulated chain lives in the same database; a real
adapter's send is idempotent per reference, so a retry after a crash cannot send twice). It stays
in transit, in the ledger as on the chain, until the chain confirms it; then `follow_transfers`
books it from transit into its target wallet (issue 26). No chain call is made while an account
row is locked: the chain is asked first, the accounts are locked after it for the writes (issue 20).
"""

from __future__ import annotations

import logging
from decimal import Decimal

from django.db import IntegrityError, transaction
from django.db.models import Sum
from django.utils import timezone

from apps.core import audit
from apps.wallets import ledger
from apps.wallets.chain import ChainRejected, adapter_for
from apps.wallets.chain_interface import UnknownTransaction
from apps.wallets.exceptions import CustodyActionRefused
from apps.wallets.models import Account, Currency, CustodyTransfer
from apps.wallets.withdrawals import in_flight, lock_hot_spending

logger = logging.getLogger(__name__)
C = CustodyTransfer
WALLET_KINDS = {"hot": Account.Kind.HOT, "cold": Account.Kind.COLD}


def sweep(*, currency: Currency) -> CustodyTransfer | None:
    """Move hot above its maximum down to its target into cold.

    Two steps, so a crash anywhere is safe with a real chain: the transfer is decided and committed
    (one open sweep per currency), then executed like an approved refill (idempotent per transfer).
    The decision is taken under the currency's spending lock (`withdrawals.lock_hot_spending`), so a
    concurrent withdrawal's reservation either goes first or comes after and counts the sweep. The
    chain's balance is read before the hot account is locked (no chain call under an account lock:
    issue 20); what left the chain since is in the in-flight figure read before it."""
    if currency.hot_max <= 0:
        return None
    try:
        with transaction.atomic():
            lock_hot_spending(currency)
            in_flight_then = in_flight(currency)
            chain_hot = adapter_for(currency.code).balance(wallet="hot", min_confirmations=currency.confirmations)
            hot = ledger.system_account(Account.Kind.HOT, currency)
            hot_available = ledger.lock_accounts([hot])[hot.pk].available
            promised = in_flight(currency)
            # Funds promised to withdrawals already being sent stay in hot.
            excess = hot_available - promised - currency.hot_target
            # On chain, every withdrawal in flight when the chain was asked may still be to leave: all of
            # it comes off the chain's figure (as `withdrawals._reserve` does), never only what was posted.
            if hot_available - promised <= currency.hot_max or chain_hot - in_flight_then < excess:
                return None  # nothing to do, or the chain has not caught up yet: try next time
            transfer = C.objects.create(currency=currency, direction=C.Direction.SWEEP, amount=excess,
                                        status=C.Status.APPROVED)  # fmt: skip
    except IntegrityError:
        return None  # a sweep is already under way
    execute(transfer_id=transfer.pk)
    transfer.refresh_from_db()
    return transfer


def request_refill_if_needed(*, currency: Currency, requested_by=None, amount: Decimal | None = None):
    """A refill request when hot, counting refills already on their way to it, is below its minimum
    (or `amount`, asked by staff). None when one is already requested or approved."""
    hot = ledger.system_account(Account.Kind.HOT, currency)
    hot.refresh_from_db()
    if amount is None:
        expected = _hot_with_arrivals(hot, currency)
        if expected >= currency.hot_min:
            return None
        amount = currency.hot_target - expected
    try:
        with transaction.atomic():
            transfer = C.objects.create(currency=currency, direction=C.Direction.REFILL, amount=amount,
                                        status=C.Status.REQUESTED, requested_by=requested_by)  # fmt: skip
            audit.record(actor=requested_by, action="wallets.refill_requested", target=transfer, amount=str(amount))
            return transfer
    except IntegrityError:
        return None  # one is already open


def _hot_with_arrivals(hot: Account, currency: Currency) -> Decimal:
    """What hot will hold once the refills on their way arrive: what the policy's minimum is held to."""
    return hot.available + in_transit(currency, direction=C.Direction.REFILL)


def withdraw_unneeded_refill(*, currency: Currency) -> CustodyTransfer | None:
    """The policy's own refill request (requested_by empty), still waiting for approval, once hot is
    back at its minimum (deposits, or a sweep's excess): rejected, so nobody approves a movement the
    policy no longer wants. A request staff made themselves stays for staff to decide."""
    with transaction.atomic():
        transfer = (C.objects.select_for_update().filter(currency=currency, direction=C.Direction.REFILL,
                    status=C.Status.REQUESTED, requested_by__isnull=True).first())  # fmt: skip
        if transfer is None:
            return None
        hot = ledger.system_account(Account.Kind.HOT, currency)
        hot.refresh_from_db()
        if _hot_with_arrivals(hot, currency) < currency.hot_min:
            return None
        transfer.status = C.Status.REJECTED
        transfer.failure_reason = f"no longer needed: hot {hot.available.normalize()} is at or above its minimum"
        transfer.save(update_fields=["status", "failure_reason", "updated_at"])
        audit.record(actor=None, action="wallets.refill_withdrawn", target=transfer, hot=str(hot.available))
    return transfer


def approve_refill(*, transfer_id: int, approver) -> CustodyTransfer:
    with transaction.atomic():
        transfer = C.objects.select_for_update().get(pk=transfer_id)
        if transfer.direction != C.Direction.REFILL or transfer.status != C.Status.REQUESTED:
            raise CustodyActionRefused("Only requested refills can be approved.")
        if transfer.requested_by_id == approver.pk:
            raise CustodyActionRefused("A refill is approved by someone other than its requester.")
        transfer.status, transfer.approved_by = C.Status.APPROVED, approver
        transfer.save(update_fields=["status", "approved_by", "updated_at"])
        audit.record(actor=approver, action="wallets.refill_approved", target=transfer)
    return transfer


def execute_approved() -> int:
    """Execute every approved sweep and refill (also those a crash interrupted); returns how many
    were sent."""
    pending = C.objects.filter(status=C.Status.APPROVED).values_list("pk", flat=True)
    return sum(execute(transfer_id=pk) for pk in pending)


def execute(*, transfer_id: int) -> bool:
    """Chain and ledger move together; the ledger is checked before the chain is asked, and the
    chain send is idempotent per transfer, so a retry after a crash never sends twice.

    Two transactions, and no chain call while an account row is locked (issue 20: a withdrawal
    waiting for the hot account may hold the fee account settlement needs):
    1. under the spending lock, check that source covers it, on chain and in the ledger (a sweep
       no longer covered is dropped, a refill waits); a transfer the chain already made passes;
    2. with the transfer row locked, ask the chain to send, then post the ledger and record the
       txid. Another run between 1 and 2 finds the transfer sent, or sends it again idempotently.
    The ledger books it from the source into custody in transit; `follow_transfers` books its
    arrival once the chain confirms it."""
    with transaction.atomic():
        # The transfer row first: a concurrent step 2 holds it across its chain call, and waiting for
        # it must not hold the spending lock every withdrawal and sweep of the currency needs.
        transfer = C.objects.select_for_update(of=("self",)).select_related("currency").get(pk=transfer_id)
        if transfer.status != C.Status.APPROVED:
            return False
        lock_hot_spending(transfer.currency)
        currency = transfer.currency
        source = "hot" if transfer.direction == C.Direction.SWEEP else "cold"
        chain = adapter_for(currency.code)
        reference = f"custody:{transfer.pk}"
        promised_then = in_flight(currency) if source == "hot" else Decimal(0)
        on_chain = chain.balance(wallet=source, min_confirmations=currency.confirmations)
        already_sent = chain.sent(reference=reference)
        # The chain has answered: the source account is locked only from here to the commit.
        account = ledger.system_account(Account.Kind.HOT if source == "hot" else Account.Kind.COLD, currency)
        in_ledger = ledger.lock_accounts([account])[account.pk].available
        if source == "hot":
            # Withdrawals being sent keep their funds in hot, in the ledger and on chain: every one in
            # flight when the chain was asked may still be to leave it (or left after its answer).
            in_ledger -= in_flight(currency)
            on_chain -= promised_then
        if min(on_chain, in_ledger) < transfer.amount and not already_sent:
            if transfer.direction == C.Direction.SWEEP:
                # Withdrawals took hot funds since the sweep was decided: drop it, the next policy
                # run decides again from the new balance.
                transfer.status, transfer.failure_reason = C.Status.FAILED, "superseded: hot changed since decided"
                transfer.save(update_fields=["status", "failure_reason", "updated_at"])
            return False  # a refill not covered yet stays approved, retried by the next run
    with transaction.atomic():
        transfer = C.objects.select_for_update(of=("self",)).select_related("currency").get(pk=transfer_id)
        if transfer.status != C.Status.APPROVED:
            return False
        target = "cold" if source == "hot" else "hot"
        try:
            txid = chain.send(wallet=source, to_address=chain.wallet_address(target), amount=transfer.amount,
                              reference=reference)  # fmt: skip
        except ChainRejected as exc:
            transfer.status, transfer.failure_reason = C.Status.FAILED, str(exc)[:200]
            transfer.save(update_fields=["status", "failure_reason", "updated_at"])
            return False
        # The chain has answered: from here on, only short writes under the account locks.
        ids = {"source": ledger.system_account(WALLET_KINDS[source], currency).pk,
               "transit": ledger.system_account(Account.Kind.CUSTODY_IN_TRANSIT, currency).pk}  # fmt: skip
        accounts = ledger.lock_accounts([Account(pk=ids["source"]), Account(pk=ids["transit"])])
        ledger.post(kind="custody", idempotency_key=reference, reference=("custody", str(transfer.pk)),
                    legs=[ledger.Leg(accounts[ids["source"]], transfer.amount),
                          ledger.Leg(accounts[ids["transit"]], -transfer.amount)])  # fmt: skip
        transfer.status, transfer.txid, transfer.sent_at = C.Status.SENT, txid, timezone.now()
        transfer.save(update_fields=["status", "txid", "sent_at", "updated_at"])
        audit.record(actor=None, action=f"wallets.{transfer.direction}_sent", target=transfer, txid=txid)
    return True


def in_transit(currency: Currency, *, direction: str | None = None) -> Decimal:
    """What is sent and not yet arrived (all of it, or only sweeps or refills)."""
    transfers = C.objects.filter(currency=currency, status=C.Status.SENT)
    if direction:
        transfers = transfers.filter(direction=direction)
    return transfers.aggregate(s=Sum("amount"))["s"] or Decimal(0)


def follow_transfers() -> int:
    """The follow task's work: refresh each sent transfer's confirmations and book the arrival of
    every one the chain has confirmed; returns how many arrived."""
    arrived = 0
    for pk in C.objects.filter(status=C.Status.SENT).values_list("pk", flat=True):
        try:
            arrived += follow(transfer_id=pk)
        except UnknownTransaction:  # reconciliation names it; the others are still followed
            logger.error("custody transfer unknown to the chain", extra={"transfer": pk})
    return arrived


def follow(*, transfer_id: int) -> bool:
    """Book a sent transfer's arrival once it has the currency's confirmations: custody in transit
    down, the target wallet up, keyed `custody:<id>:arrived` (once, also when two run at once). The
    chain is asked before any row is locked (issue 20)."""
    transfer = C.objects.select_related("currency").get(pk=transfer_id)
    if transfer.status != C.Status.SENT:
        return False
    currency = transfer.currency
    count = adapter_for(currency.code).confirmations(transfer.txid)
    with transaction.atomic():
        transfer = C.objects.select_for_update(of=("self",)).select_related("currency").get(pk=transfer_id)
        if transfer.status != C.Status.SENT:
            return False
        if count < currency.confirmations:
            if count != transfer.confirmations:
                transfer.confirmations = count
                transfer.save(update_fields=["confirmations", "updated_at"])
            return False
        target = WALLET_KINDS["cold" if transfer.direction == C.Direction.SWEEP else "hot"]
        ids = {"transit": ledger.system_account(Account.Kind.CUSTODY_IN_TRANSIT, currency).pk,
               "target": ledger.system_account(target, currency).pk}  # fmt: skip
        accounts = ledger.lock_accounts([Account(pk=pk) for pk in ids.values()])
        ledger.post(kind="custody", idempotency_key=f"custody:{transfer.pk}:arrived",
                    reference=("custody", str(transfer.pk)),
                    legs=[ledger.Leg(accounts[ids["transit"]], transfer.amount),
                          ledger.Leg(accounts[ids["target"]], -transfer.amount)])  # fmt: skip
        transfer.status, transfer.confirmations, transfer.confirmed_at = C.Status.CONFIRMED, count, timezone.now()
        transfer.save(update_fields=["status", "confirmations", "confirmed_at", "updated_at"])
        audit.record(actor=None, action=f"wallets.{transfer.direction}_confirmed", target=transfer,
                     confirmations=count)  # fmt: skip
    return True


def run_policy() -> dict[str, str]:
    """The beat task's work for every active currency: sweep, or ask for a refill (or withdraw the
    policy's own request that is no longer needed), then execute approved refills."""
    result = {}
    for currency in Currency.objects.filter(is_active=True):
        if sweep(currency=currency):
            result[currency.code] = "swept"
        elif request_refill_if_needed(currency=currency):
            result[currency.code] = "refill requested"
        if withdraw_unneeded_refill(currency=currency):
            result[currency.code] = "refill request withdrawn"
    executed = execute_approved()
    if executed:
        result["executed"] = str(executed)
    return result
