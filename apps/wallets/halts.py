"""Per-currency withdrawal halts, set by staff in the admin or by the kill switch.

A halted currency refuses new withdrawals (403 `withdrawals_halted`) and sends none of those
already accepted: they stay `approved` (or in review) and go out on the first send run after the
halt is lifted. Users may still cancel them.

Locking: halting and resuming take FOR NO KEY UPDATE on the currency rows; a withdrawal being
accepted or sent reads the flag under FOR SHARE (`lock_halt_state`). So once a halt has committed no
withdrawal of that currency is accepted or handed to the chain, and a halt waits for those already
past the check. NO KEY UPDATE does not conflict with the FOR KEY SHARE that inserting ledger entries
or orders takes on the currency row, so a halt never waits on (or deadlocks with) trading.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.db import connection, transaction

from apps.core import audit
from apps.core.exceptions import DomainError
from apps.wallets.exceptions import UnknownCurrency, WithdrawalsHalted
from apps.wallets.models import Currency

REASON_MAX = Currency._meta.get_field("withdrawals_halt_reason").max_length


def halt_withdrawals(*, currencies: Iterable[str] | None = None, reason: str, actor) -> list[str]:
    """Halt withdrawals of `currencies` (codes; None: every currency) and return, sorted, the codes
    this call halted. A currency already halted is left as it is, with its own reason, and is not
    returned: so `resume_withdrawals(only_reason=...)` by whoever halted second leaves it halted.

    One transaction: the currency rows are locked in code order, each change is written with its
    audit event (`wallets.withdrawals_halted`: actor, reason, and every code of this call), and an
    unknown code refuses the whole call (404 `unknown_currency`) before anything is written.
    Idempotent: a repeat halts nothing more. `actor` may be None (a command, the system)."""
    reason = _clean_reason(reason)
    with transaction.atomic():
        changed = [c for c in _lock(currencies) if not c.withdrawals_halted]
        codes = [c.code for c in changed]
        for currency in changed:
            currency.withdrawals_halted, currency.withdrawals_halt_reason = True, reason
            currency.save(update_fields=["withdrawals_halted", "withdrawals_halt_reason"])
            audit.record(actor=actor, action="wallets.withdrawals_halted", target=currency, reason=reason,
                         currencies=codes)  # fmt: skip
    return codes


def resume_withdrawals(
    *, currencies: Iterable[str] | None = None, actor, only_reason: str | None = None, reason: str = ""
) -> list[str]:
    """Lift the halt of `currencies` (codes; None: every currency) and return, sorted, the codes
    this call resumed. With `only_reason`, only currencies halted with exactly that reason resume
    (the kill switch resumes what it halted itself, not what operations halted for another cause).

    Same transaction and locking as `halt_withdrawals`; each change has its audit event
    (`wallets.withdrawals_resumed`: actor, the optional `reason`, the halt's reason, the codes).
    Idempotent. Withdrawals waiting on the halt go out on the next send run."""
    with transaction.atomic():
        changed = [
            c
            for c in _lock(currencies)
            if c.withdrawals_halted and (only_reason is None or c.withdrawals_halt_reason == only_reason)
        ]
        codes = [c.code for c in changed]
        for currency in changed:
            halt_reason = currency.withdrawals_halt_reason
            currency.withdrawals_halted, currency.withdrawals_halt_reason = False, ""
            currency.save(update_fields=["withdrawals_halted", "withdrawals_halt_reason"])
            audit.record(actor=actor, action="wallets.withdrawals_resumed", target=currency, reason=reason,
                         halt_reason=halt_reason, currencies=codes)  # fmt: skip
    return codes


def refuse_if_halted(currency: Currency) -> None:
    """403 `withdrawals_halted` (details: currency, reason) for a halted currency as loaded."""
    if currency.withdrawals_halted:
        raise WithdrawalsHalted(details={"currency": currency.code, "reason": currency.withdrawals_halt_reason})


def lock_halt_state(currency: Currency) -> Currency:
    """Re-read the currency's halt flag and reason under FOR SHARE (call inside a transaction): a halt
    cannot commit until this transaction ends. Updates and returns `currency`."""
    table = connection.ops.quote_name(Currency._meta.db_table)
    with connection.cursor() as cursor:
        # Django's select_for_update has no FOR SHARE; concurrent withdrawals must not queue on each other.
        cursor.execute(
            f"SELECT withdrawals_halted, withdrawals_halt_reason FROM {table} WHERE code = %s FOR SHARE",  # noqa: S608
            [currency.code],
        )
        currency.withdrawals_halted, currency.withdrawals_halt_reason = cursor.fetchone()
    return currency


def _lock(codes: Iterable[str] | None) -> list[Currency]:
    query = Currency.objects.select_for_update(no_key=True).order_by("code")
    if codes is None:
        return list(query)
    if isinstance(codes, str):
        codes = [codes]
    wanted = {str(code).upper() for code in codes}
    rows = list(query.filter(code__in=wanted))
    missing = sorted(wanted - {c.code for c in rows})
    if missing:
        raise UnknownCurrency(details={"currency": missing})
    return rows


def _clean_reason(reason: str) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise DomainError("A reason is required.", details={"reason": ["Say why withdrawals are halted."]})
    if len(reason) > REASON_MAX:
        raise DomainError("The reason is too long.", details={"reason": [f"At most {REASON_MAX} characters."]})
    return reason
