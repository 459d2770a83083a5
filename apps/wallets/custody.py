"""Hot and cold wallets: policy sweeps hot → cold, refills cold → hot with four-eyes approval.

Per currency: hot_min <= hot_target <= hot_max. Above hot_max the sweep moves the excess down to
hot_target into cold. Below hot_min a refill request is raised (one open per currency); staff other
than its requester approve it, then a task executes it (in reality with the offline cold keys).
Each movement changes the chain and the ledger in one database transaction (the simulated chain
lives in the same database; a real adapter's send is idempotent per reference, so a retry after a
crash cannot send twice).
"""

from __future__ import annotations

from decimal import Decimal

from django.db import IntegrityError, transaction

from apps.core import audit
from apps.wallets import ledger
from apps.wallets.chain import adapter_for
from apps.wallets.exceptions import CustodyActionRefused
from apps.wallets.models import Account, Currency, CustodyTransfer

C = CustodyTransfer


def sweep(*, currency: Currency) -> CustodyTransfer | None:
    """Move hot above its maximum down to its target into cold. Safe to run concurrently with
    withdrawals: the hot account row is locked while the amount is decided and posted."""
    if currency.hot_max <= 0:
        return None
    with transaction.atomic():
        hot = Account.objects.select_for_update().get(pk=ledger.system_account(Account.Kind.HOT, currency).pk)
        if hot.available <= currency.hot_max:
            return None
        transfer = C.objects.create(currency=currency, direction=C.Direction.SWEEP,
                                    amount=hot.available - currency.hot_target, status=C.Status.APPROVED)  # fmt: skip
        _execute(transfer)
    return transfer


def request_refill_if_needed(*, currency: Currency, requested_by=None, amount: Decimal | None = None):
    hot = ledger.system_account(Account.Kind.HOT, currency)
    hot.refresh_from_db()
    if amount is None:
        if hot.available >= currency.hot_min:
            return None
        amount = currency.hot_target - hot.available
    try:
        with transaction.atomic():
            transfer = C.objects.create(currency=currency, direction=C.Direction.REFILL, amount=amount,
                                        status=C.Status.REQUESTED, requested_by=requested_by)  # fmt: skip
            audit.record(actor=requested_by, action="wallets.refill_requested", target=transfer, amount=str(amount))
            return transfer
    except IntegrityError:
        return None  # one is already open


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


def execute_approved_refills() -> int:
    done = 0
    for pk in C.objects.filter(direction=C.Direction.REFILL, status=C.Status.APPROVED).values_list("pk", flat=True):
        with transaction.atomic():
            transfer = C.objects.select_for_update().get(pk=pk)
            if transfer.status == C.Status.APPROVED:
                _execute(transfer)
                done += 1
    return done


def _execute(transfer: CustodyTransfer) -> None:
    """Inside the caller's transaction: chain send and ledger posting together."""
    currency = transfer.currency
    source, target = ("hot", "cold") if transfer.direction == C.Direction.SWEEP else ("cold", "hot")
    chain = adapter_for(currency.code)
    available = chain.balance(wallet=source, min_confirmations=currency.confirmations)
    if available < transfer.amount:
        transfer.status, transfer.failure_reason = C.Status.FAILED, f"{source} holds {available} on chain"
        transfer.save(update_fields=["status", "failure_reason", "updated_at"])
        return
    txid = chain.send(wallet=source, to_address=chain.wallet_address(target), amount=transfer.amount,
                      reference=f"custody:{transfer.pk}")  # fmt: skip
    kinds = {"hot": Account.Kind.HOT, "cold": Account.Kind.COLD}
    ledger.post(kind="custody", idempotency_key=f"custody:{transfer.pk}", reference=("custody", str(transfer.pk)),
                legs=[ledger.Leg(ledger.system_account(kinds[source], currency), transfer.amount),
                      ledger.Leg(ledger.system_account(kinds[target], currency), -transfer.amount)])  # fmt: skip
    transfer.status, transfer.txid = C.Status.SENT, txid
    transfer.save(update_fields=["status", "txid", "updated_at"])
    audit.record(actor=None, action=f"wallets.{transfer.direction}_sent", target=transfer, txid=txid)


def run_policy() -> dict[str, str]:
    """The beat task's work for every active currency: sweep, or ask for a refill, then execute
    approved refills."""
    result = {}
    for currency in Currency.objects.filter(is_active=True):
        if sweep(currency=currency):
            result[currency.code] = "swept"
        elif request_refill_if_needed(currency=currency):
            result[currency.code] = "refill requested"
    executed = execute_approved_refills()
    if executed:
        result["refills executed"] = str(executed)
    return result
