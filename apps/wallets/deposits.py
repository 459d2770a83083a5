"""Deposits: addresses, detection on the chain, and crediting once confirmed.

Crediting is exactly-once: the deposit row is locked, its status checked, and the ledger posting
carries the idempotency key `deposit:<id>`; two workers running the task at the same moment credit
a deposit once.
"""

from __future__ import annotations

from decimal import Decimal

from django.db import IntegrityError, transaction
from django.utils import timezone

from apps.core import audit, money
from apps.wallets import ledger
from apps.wallets.chain import adapter_for
from apps.wallets.exceptions import InvalidAmount, UnknownCurrency
from apps.wallets.models import Account, Currency, Deposit, DepositAddress
from apps.wallets.simchain import SimulatedChain


def active_currency(code: str) -> Currency:
    currency = Currency.objects.filter(code=code.upper(), is_active=True).first()
    if currency is None:
        raise UnknownCurrency(details={"currency": code})
    return currency


def deposit_address(*, user, currency_code: str) -> DepositAddress:
    """The user's address for a currency, made on first request (one per user and currency)."""
    currency = active_currency(currency_code)
    existing = DepositAddress.objects.filter(user=user, currency=currency).first()
    if existing is not None:
        return existing
    address = adapter_for(currency.code).new_address(wallet="hot")
    try:
        with transaction.atomic():
            return DepositAddress.objects.create(user=user, currency=currency, address=address)
    except IntegrityError:  # made concurrently; the spare chain address stays unused
        return DepositAddress.objects.get(user=user, currency=currency)


def scan_deposits(*, currency: Currency) -> int:
    """Record new incoming transfers to deposit addresses and refresh confirmations."""
    owners = dict(DepositAddress.objects.filter(currency=currency).values_list("address", "user_id"))
    if not owners:
        return 0
    seen = 0
    for incoming in adapter_for(currency.code).incoming(addresses=list(owners)):
        deposit, created = Deposit.objects.get_or_create(
            currency=currency, txid=incoming.txid, output_index=incoming.index,
            defaults={"user_id": owners[incoming.address], "address": incoming.address, "amount": incoming.amount,
                      "confirmations": incoming.confirmations},
        )  # fmt: skip
        if not created and deposit.confirmations != incoming.confirmations:
            Deposit.objects.filter(pk=deposit.pk).update(confirmations=incoming.confirmations)
        seen += 1
    return seen


def credit_confirmed(*, currency: Currency) -> int:
    """Credit every deposit with enough confirmations, each exactly once."""
    ready = Deposit.objects.filter(currency=currency, status=Deposit.Status.PENDING,
                                   confirmations__gte=currency.confirmations).values_list("pk", flat=True)  # fmt: skip
    return sum(credit(deposit_id=pk) for pk in ready)


def credit(*, deposit_id: int) -> bool:
    with transaction.atomic():
        deposit = Deposit.objects.select_for_update(of=("self",)).select_related("currency", "user").get(pk=deposit_id)
        if deposit.status != Deposit.Status.PENDING or deposit.confirmations < deposit.currency.confirmations:
            return False
        txn = ledger.post(
            kind="deposit", idempotency_key=f"deposit:{deposit.pk}", reference=("deposit", str(deposit.pk)),
            legs=[ledger.Leg(ledger.system_account(Account.Kind.HOT, deposit.currency), -deposit.amount),
                  ledger.Leg(ledger.user_account(deposit.user, deposit.currency), deposit.amount)],
        )  # fmt: skip
        deposit.status, deposit.ledger_transaction, deposit.credited_at = Deposit.Status.CREDITED, txn, timezone.now()
        deposit.save(update_fields=["status", "ledger_transaction", "credited_at"])
        audit.record(actor=None, action="wallets.deposit_credited", target=deposit, amount=str(deposit.amount))
    return True


def process_deposits() -> dict[str, int]:
    """The beat task's work: scan every active currency, credit what is confirmed."""
    result = {}
    for currency in Currency.objects.filter(is_active=True):
        scan_deposits(currency=currency)
        result[currency.code] = credit_confirmed(currency=currency)
    return result


def simulate_deposit(*, user, currency_code: str, amount: Decimal, confirmations: int = 0) -> str:
    """Development and tests: money arrives on the simulated chain at the user's deposit address,
    then `confirmations` blocks are mined. The beat task detects and credits it like any deposit."""
    currency = active_currency(currency_code)
    if amount <= 0 or not money.fits(amount, currency.decimals):
        raise InvalidAmount(f"Amounts are positive with at most {currency.decimals} decimals.")
    chain = adapter_for(currency.code)
    if not isinstance(chain.adapter, SimulatedChain):
        raise InvalidAmount("Deposits can only be simulated on the simulated chain.")
    address = deposit_address(user=user, currency_code=currency.code).address
    txid = chain.receive(to_address=address, amount=amount)
    if confirmations:
        chain.mine(confirmations)
    return txid
