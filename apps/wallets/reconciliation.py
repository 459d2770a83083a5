"""Reconciliation: does the exchange hold what it owes, and does the chain agree with the ledger?

Per currency:
- solvency: users + fees == hot + cold + in transit + sandbox issuance (ledger balances; invariant
  3). Sandbox issuance is the asset side of the test funds the sandbox faucet credits: it is zero
  unless sandbox mode was ever on;
- custody: the ledger's hot and cold balances == what the chain adapter reports for those wallets
  (confirmed receipts only, as deposits are credited after confirmations). Sandbox issuance is no
  chain wallet and is never compared with a chain;
- the ledger invariants 1-4 (apps.wallets.verification).
Each run is stored with its figures and mismatches; /metrics exports the latest one.
"""

from __future__ import annotations

from decimal import Decimal

from django.db import connection, transaction
from django.db.models import Sum
from django.utils import timezone

from apps.core import audit
from apps.wallets.chain import adapter_for
from apps.wallets.models import Account, Currency, Deposit, DepositAddress, ReconciliationRun
from apps.wallets.verification import verify_ledger

K = Account.Kind


def _ledger_totals(currency: Currency) -> dict[str, Decimal]:
    rows = Account.objects.filter(currency=currency).values("kind").annotate(total=Sum("available") + Sum("locked"))
    totals = {kind: Decimal(0) for kind in K.values}
    for row in rows:
        totals[row["kind"]] = row["total"] or Decimal(0)
    return totals


def _confirmed_uncredited(currency: Currency, chain) -> Decimal:
    """Deposits the chain already counts as confirmed that the deposit task has not credited yet
    (it runs every few seconds): on chain, not yet in the ledger, and not a mismatch."""
    addresses = list(DepositAddress.objects.filter(currency=currency).values_list("address", flat=True))
    if not addresses:
        return Decimal(0)
    credited = set(Deposit.objects.filter(currency=currency, status=Deposit.Status.CREDITED)
                   .values_list("txid", "output_index"))  # fmt: skip
    return sum(
        (t.amount for t in chain.incoming(addresses=addresses)
         if t.confirmations >= currency.confirmations and (t.txid, t.index) not in credited),
        Decimal(0),
    )  # fmt: skip


def reconcile(*, trigger: str = "beat", actor=None) -> ReconciliationRun:
    """One consistent snapshot (REPEATABLE READ): ledger, deposits and the simulated chain are read
    as of the same moment."""
    outermost = not connection.in_atomic_block  # a caller's open transaction keeps its own snapshot
    with transaction.atomic():
        if outermost:
            with connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        figures, mismatches = _compare()
    run = ReconciliationRun.objects.create(trigger=trigger)
    run.figures, run.mismatches, run.ok, run.finished_at = figures, mismatches, not mismatches, timezone.now()
    run.save(update_fields=["figures", "mismatches", "ok", "finished_at"])
    audit.record(actor=actor, action="wallets.reconcile", target=run, ok=run.ok, mismatches=len(mismatches))
    return run


def _compare() -> tuple[dict, list]:
    figures: dict[str, dict[str, str]] = {}
    mismatches: list[dict[str, str]] = []
    for currency in Currency.objects.order_by("code"):
        totals = _ledger_totals(currency)
        owed = totals[K.USER] + totals[K.FEES]
        in_transit = totals[K.DEPOSITS_IN_TRANSIT] + totals[K.WITHDRAWALS_IN_TRANSIT]
        held = totals[K.HOT] + totals[K.COLD] + in_transit + totals[K.SANDBOX_ISSUANCE]
        chain = adapter_for(currency.code)
        uncredited = _confirmed_uncredited(currency, chain)
        chain_hot = chain.balance(wallet="hot", min_confirmations=currency.confirmations) - uncredited
        chain_cold = chain.balance(wallet="cold", min_confirmations=currency.confirmations)
        figures[currency.code] = {
            "users": str(totals[K.USER]), "fees": str(totals[K.FEES]), "hot": str(totals[K.HOT]),
            "cold": str(totals[K.COLD]), "in_transit": str(in_transit), "chain_hot": str(chain_hot),
            "chain_cold": str(chain_cold), "deposits_confirmed_uncredited": str(uncredited),
            "sandbox_issuance": str(totals[K.SANDBOX_ISSUANCE]),
        }  # fmt: skip
        if owed != held:
            detail = f"owed {owed} (users + fees) != held {held} (hot + cold + in transit + sandbox issuance)"
            mismatches.append({"check": "solvency", "subject": currency.code, "detail": detail})
        for wallet, ledger_value, chain_value in (
            ("hot", totals[K.HOT], chain_hot),
            ("cold", totals[K.COLD], chain_cold),
        ):
            if ledger_value != chain_value:
                mismatches.append({"check": "custody", "subject": f"{currency.code} {wallet}",
                                   "detail": f"ledger {ledger_value} != chain {chain_value}"})  # fmt: skip
    for violation in verify_ledger():
        mismatches.append({"check": f"ledger invariant {violation.invariant}", "subject": violation.subject,
                           "detail": violation.detail})  # fmt: skip
    return figures, mismatches


def latest_run() -> ReconciliationRun | None:
    return ReconciliationRun.objects.filter(finished_at__isnull=False).first()
