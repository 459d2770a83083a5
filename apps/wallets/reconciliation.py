"""Reconciliation: does the exchange hold what it owes, and does the chain agree with the ledger?

Per currency:
- solvency: users + fees == hot + cold + in transit + sandbox issuance (ledger balances; invariant
  3). Sandbox issuance is the asset side of the test funds the sandbox faucet credits: it is zero
  unless sandbox mode was ever on;
- custody: the ledger's hot, cold and in-transit balances == what the chain adapter reports for
  them. The chain's hot and cold count confirmed receipts only (deposits are credited, custody
  transfers booked into their target, after confirmations); its in transit is every sweep and
  refill the ledger has sent whose transaction the chain knows. A movement the two sides see at
  different times is counted where each side sees it, so a routine one is no mismatch:
  - a custody transfer sent and not confirmed: in transit on both sides;
  - one the chain has confirmed but the follow task has not booked yet: still in transit (the chain's
    target wallet already counts it, so it is moved back there);
  - a deposit confirmed on chain and not credited yet: not counted in the chain's hot;
  - a withdrawal or custody transfer the chain has sent whose ledger posting is still to come (a
    crash between the two; resumed by the next run): counted as still in its source.
  Each of these past its deadline (`stuck_after`) is a mismatch of its own ("stuck transfer", with
  its txid), as is a withdrawal sent and not confirmed past it (the user's coins not arriving).
  Sandbox issuance is no chain wallet and is never compared with a chain;
- the ledger invariants 1-4 (apps.wallets.verification).
A node that does not answer is a mismatch of the currency ("chain"): nothing was verified.
Each run is stored with its figures and mismatches; /metrics exports the latest one.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Sum
from django.utils import timezone

from apps.core import audit
from apps.wallets.chain import adapter_for
from apps.wallets.chain_interface import UnknownTransaction
from apps.wallets.models import (
    Account,
    Currency,
    CustodyTransfer,
    Deposit,
    DepositAddress,
    ReconciliationRun,
    Withdrawal,
)
from apps.wallets.verification import verify_ledger

K = Account.Kind
C = CustodyTransfer
LEDGER_IN_TRANSIT = (K.DEPOSITS_IN_TRANSIT, K.WITHDRAWALS_IN_TRANSIT, K.CUSTODY_IN_TRANSIT)


def _plain(amount: Decimal) -> str:
    """An amount as staff read it: 150, not 150.000000000000000000."""
    return f"{amount.normalize():f}"


def stuck_after(currency: Currency) -> dt.timedelta:
    """How long a movement may stay unconfirmed (or unbooked) before it is a mismatch:
    CHAIN_STUCK_FACTOR x the currency's confirmations x its expected seconds per block."""
    per_block = settings.CHAIN_BLOCK_SECONDS.get(currency.code, settings.CHAIN_BLOCK_SECONDS["*"])
    return dt.timedelta(seconds=settings.CHAIN_STUCK_FACTOR * max(1, currency.confirmations) * per_block)


@dataclass
class ChainView:
    """The chain's side of one currency, adjusted for the movements it sees at another time than
    the ledger (see the module's docstring), and the movements open past their deadline."""

    hot: Decimal
    cold: Decimal
    in_transit: Decimal = Decimal(0)
    deposits_confirmed_uncredited: Decimal = Decimal(0)
    sent_unbooked: Decimal = Decimal(0)
    stuck: list[dict[str, str]] = field(default_factory=list)


def _ledger_totals(currency: Currency) -> dict[str, Decimal]:
    rows = Account.objects.filter(currency=currency).values("kind").annotate(total=Sum("available") + Sum("locked"))
    totals = {kind: Decimal(0) for kind in K.values}
    for row in rows:
        totals[row["kind"]] = row["total"] or Decimal(0)
    return totals


def _confirmed_uncredited(currency: Currency, chain) -> list[tuple[str, int, Decimal]]:
    """Deposits the chain already counts as confirmed that the deposit task has not credited yet
    (it runs every few seconds): (txid, output index, amount), on chain and not yet in the ledger."""
    addresses = list(DepositAddress.objects.filter(currency=currency).values_list("address", flat=True))
    if not addresses:
        return []
    credited = set(Deposit.objects.filter(currency=currency, status=Deposit.Status.CREDITED)
                   .values_list("txid", "output_index"))  # fmt: skip
    return [(t.txid, t.index, t.amount) for t in chain.incoming(addresses=addresses)
            if t.confirmations >= currency.confirmations and (t.txid, t.index) not in credited]  # fmt: skip


def _stuck(subject: str, what: str, since, now, deadline: dt.timedelta) -> dict[str, str] | None:
    age = now - since
    if age <= deadline:
        return None
    seconds, limit = int(age.total_seconds()), int(deadline.total_seconds())
    return {"check": "stuck transfer", "subject": subject, "detail": f"{what} for {seconds} s (deadline {limit} s)"}


def _chain_view(currency: Currency, chain, now) -> ChainView:
    code, needed, deadline = currency.code, currency.confirmations, stuck_after(currency)
    view = ChainView(hot=chain.balance(wallet="hot", min_confirmations=needed),
                     cold=chain.balance(wallet="cold", min_confirmations=needed))  # fmt: skip
    # Deposits confirmed on chain, not credited yet.
    detected = dict(Deposit.objects.filter(currency=currency, status=Deposit.Status.PENDING)
                    .values_list("txid", "detected_at"))  # fmt: skip
    for txid, _index, amount in _confirmed_uncredited(currency, chain):
        view.hot -= amount
        view.deposits_confirmed_uncredited += amount
        if txid in detected:
            what = f"deposit of {_plain(amount)} {code} confirmed on chain, not credited"
            view.stuck.append(_stuck(f"{code} deposit {txid}", what, detected[txid], now, deadline))
    # Sweeps and refills the ledger has in transit.
    for transfer in C.objects.filter(currency=currency, status=C.Status.SENT).order_by("pk"):
        target = "cold" if transfer.direction == C.Direction.SWEEP else "hot"
        try:
            count = chain.confirmations(transfer.txid)
        except UnknownTransaction:
            what = f"{transfer.direction} of {_plain(transfer.amount)} {code}: txid {transfer.txid}"
            view.stuck.append({"check": "stuck transfer", "subject": f"{code} custody #{transfer.pk}",
                               "detail": f"{what} is unknown to the chain"})  # fmt: skip
            continue
        view.in_transit += transfer.amount
        if count >= needed:  # arrived on chain, the follow task books it next
            setattr(view, target, getattr(view, target) - transfer.amount)
        view.stuck.append(_stuck(
            f"{code} custody #{transfer.pk}",
            f"{transfer.direction} of {_plain(transfer.amount)} {code}, txid {transfer.txid}: {count} of {needed} "
            f"confirmations{', arrival not booked' if count >= needed else ''}", transfer.sent_at, now, deadline,
        ))  # fmt: skip
    # Sent on chain, not yet posted (a crash between the node's answer and the commit).
    for transfer in C.objects.filter(currency=currency, status=C.Status.APPROVED).order_by("pk"):
        if chain.sent(reference=f"custody:{transfer.pk}"):
            source = "hot" if transfer.direction == C.Direction.SWEEP else "cold"
            setattr(view, source, getattr(view, source) + transfer.amount)
            view.sent_unbooked += transfer.amount
            what = f"{transfer.direction} of {_plain(transfer.amount)} {code} sent on chain, not booked"
            view.stuck.append(_stuck(f"{code} custody #{transfer.pk}", what, transfer.updated_at, now, deadline))
    reserved = Withdrawal.objects.filter(currency=currency, status=Withdrawal.Status.APPROVED,
                                         send_started_at__isnull=False).order_by("pk")  # fmt: skip
    for withdrawal in reserved:
        if chain.sent(reference=f"withdrawal:{withdrawal.pk}"):
            view.hot += withdrawal.amount
            view.sent_unbooked += withdrawal.amount
            what = f"withdrawal of {_plain(withdrawal.amount)} {code} sent on chain, not booked"
            subject = f"{code} withdrawal #{withdrawal.pk}"
            view.stuck.append(_stuck(subject, what, withdrawal.send_started_at, now, deadline))
    # Withdrawals sent and not confirmed: no wallet of ours is off, but the user's coins are not arriving.
    late = Withdrawal.objects.filter(currency=currency, status=Withdrawal.Status.SENT, sent_at__lt=now - deadline)
    for withdrawal in late.order_by("pk"):
        what = (f"withdrawal of {_plain(withdrawal.amount)} {code}, txid {withdrawal.txid}: "
                f"{withdrawal.confirmations} of {needed} confirmations")  # fmt: skip
        view.stuck.append(_stuck(f"{code} withdrawal #{withdrawal.pk}", what, withdrawal.sent_at, now, deadline))
    view.stuck = [s for s in view.stuck if s is not None]
    return view


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
    now = timezone.now()
    figures: dict[str, dict[str, str]] = {}
    mismatches: list[dict[str, str]] = []
    for currency in Currency.objects.order_by("code"):
        totals = _ledger_totals(currency)
        owed = totals[K.USER] + totals[K.FEES]
        in_transit = sum((totals[kind] for kind in LEDGER_IN_TRANSIT), Decimal(0))
        held = totals[K.HOT] + totals[K.COLD] + in_transit + totals[K.SANDBOX_ISSUANCE]
        figures[currency.code] = {
            "users": str(totals[K.USER]), "fees": str(totals[K.FEES]), "hot": str(totals[K.HOT]),
            "cold": str(totals[K.COLD]), "in_transit": str(in_transit),
            "sandbox_issuance": str(totals[K.SANDBOX_ISSUANCE]),
        }  # fmt: skip
        if owed != held:
            detail = f"owed {owed} (users + fees) != held {held} (hot + cold + in transit + sandbox issuance)"
            mismatches.append({"check": "solvency", "subject": currency.code, "detail": detail})
        try:
            view = _chain_view(currency, adapter_for(currency.code), now)
        except OSError as exc:  # the node is down or its breaker open: this currency was not verified
            mismatches.append({"check": "chain", "subject": currency.code,
                               "detail": f"the chain could not be asked: {exc}"})  # fmt: skip
            continue
        figures[currency.code].update({
            "chain_hot": str(view.hot), "chain_cold": str(view.cold), "chain_in_transit": str(view.in_transit),
            "deposits_confirmed_uncredited": str(view.deposits_confirmed_uncredited),
            "sent_unbooked": str(view.sent_unbooked),
        })  # fmt: skip
        for wallet, ledger_value, chain_value in (
            ("hot", totals[K.HOT], view.hot),
            ("cold", totals[K.COLD], view.cold),
            ("in transit", in_transit, view.in_transit),
        ):
            if ledger_value != chain_value:
                mismatches.append({"check": "custody", "subject": f"{currency.code} {wallet}",
                                   "detail": f"ledger {ledger_value} != chain {chain_value}"})  # fmt: skip
        mismatches.extend(view.stuck)
    for violation in verify_ledger():
        mismatches.append({"check": f"ledger invariant {violation.invariant}", "subject": violation.subject,
                           "detail": violation.detail})  # fmt: skip
    return figures, mismatches


def latest_run() -> ReconciliationRun | None:
    return ReconciliationRun.objects.filter(finished_at__isnull=False).first()
