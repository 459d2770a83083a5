"""The only code that writes ledger balances, with its two SQL functions (migration wallets/0013:
`ledger_user_account`, `ledger_hold_new_owner`), which order entry's one statement calls
(`orders_place`, migration orders/0003), and `post_batch`, which writes the matcher's settlement
batches (thousands of postings by COPY in the matcher's transaction).

Guarantees of `post` (and so of everything built on it):
- balanced: the legs sum to zero per currency (checked here, and by a deferred database trigger);
- atomic: balances, the transaction and its entries commit together or not at all;
- never negative: a leg that would take a balance below zero raises InsufficientFunds (and CHECK
  constraints refuse it in the database anyway);
- idempotent: a second post with the same idempotency key returns the first transaction and
  changes nothing, also when the two race;
- deadlock-free: account rows are locked in ascending id order, whatever order the legs come in.

Callers lock their own rows with select_for_update(of=("self",)): a bare select_for_update with
select_related would also lock the joined currency and account rows, and a concurrent insert that
references them (a new account, an entry) would deadlock against it (found by the sweep-vs-
withdrawal test).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from django.db import IntegrityError, connection, transaction

from apps.core import money
from apps.core.sql import numeric_array, text_array
from apps.wallets.exceptions import InsufficientFunds, InvalidAmount, UnbalancedTransaction
from apps.wallets.models import Account, Currency, Entry, Hold, Transaction

AVAILABLE, LOCKED = Entry.Bucket.AVAILABLE, Entry.Bucket.LOCKED


@dataclass(frozen=True)
class Leg:
    account: Account
    amount: Decimal  # credit-positive
    bucket: str = AVAILABLE


def quantize_check(amount: Decimal, currency: Currency) -> None:
    if not isinstance(amount, Decimal) or not amount.is_finite():
        raise InvalidAmount("Amounts are finite Decimals.")
    if not money.fits(amount, currency.decimals):
        raise InvalidAmount(f"{currency.code} has {currency.decimals} decimals.")


def post(
    *, kind: str, legs: Iterable[Leg], idempotency_key: str, reference: tuple[str, str] = ("", ""), memo: str = ""
) -> Transaction:
    legs = [leg for leg in legs]
    if not legs or any(leg.amount == 0 for leg in legs):
        raise InvalidAmount("A transaction needs legs, none of them zero.")
    totals: dict[str, Decimal] = defaultdict(Decimal)
    for leg in legs:
        quantize_check(leg.amount, leg.account.currency)
        if leg.bucket == LOCKED and not leg.account.is_liability:
            raise InvalidAmount("Only user and fee accounts have a locked bucket.")
        totals[leg.account.currency_id] += leg.amount
    if any(total != 0 for total in totals.values()):
        raise UnbalancedTransaction(details={k: str(v) for k, v in totals.items() if v != 0})

    try:
        with transaction.atomic():
            existing = Transaction.objects.filter(idempotency_key=idempotency_key).first()
            if existing is not None:
                return _repeat(existing, kind)
            locked = lock_accounts(leg.account for leg in legs)
            for leg in legs:
                account = locked[leg.account.pk]
                change = leg.amount if account.is_liability else -leg.amount
                field = "available" if leg.bucket == AVAILABLE else "locked"
                setattr(account, field, getattr(account, field) + change)
            short = [a for a in locked.values() if a.available < 0 or a.locked < 0]
            if short:
                raise InsufficientFunds(details={"accounts": [str(a) for a in short]})
            Account.objects.bulk_update(locked.values(), ["available", "locked"])
            txn = Transaction.objects.create(
                kind=kind, idempotency_key=idempotency_key, reference_type=reference[0],
                reference_id=str(reference[1]), memo=memo,
            )  # fmt: skip
            Entry.objects.bulk_create(
                Entry(transaction=txn, account_id=leg.account.pk, currency_id=leg.account.currency_id,
                      bucket=leg.bucket, amount=leg.amount)
                for leg in legs
            )  # fmt: skip
            txn.created = True
            return txn
    except IntegrityError:
        # The same key committed by a concurrent post between our check and our insert.
        existing = Transaction.objects.filter(idempotency_key=idempotency_key).first()
        if existing is not None:
            return _repeat(existing, kind)
        raise


def _repeat(existing: Transaction, kind: str) -> Transaction:
    """The first posting of a key, marked as not created by this call. A key reused for another
    kind of posting is a bug in the caller, not a repeat: refuse it loudly."""
    if existing.kind != kind:
        raise UnbalancedTransaction(f"Idempotency key {existing.idempotency_key!r} was used for a {existing.kind}.")
    existing.created = False
    return existing


def lock_accounts(accounts: Iterable[Account]) -> dict[int, Account]:
    """Lock account rows in ascending id order (the one lock order of the whole system) and return
    them fresh. Callers that must decide on balances before posting lock everything they will
    touch here first, so no two transactions ever wait on each other in a cycle."""
    ids = sorted({account.pk for account in accounts})
    return {a.pk: a for a in Account.objects.select_for_update(of=("self",)).select_related("currency")
            .filter(pk__in=ids).order_by("pk")}  # fmt: skip


def lock_user_account(user, currency: Currency | str) -> Account:
    """The user's account in `currency`, created if missing, locked (one account: no lock order
    question) and fresh, in the caller's transaction."""
    code = currency.pk if isinstance(currency, Currency) else currency
    account = (Account.objects.select_for_update(of=("self",)).select_related("currency")
               .filter(kind=Account.Kind.USER, user=user, currency_id=code).first())  # fmt: skip
    if account is None:
        user_account(user, code)
        return lock_user_account(user, code)
    return account


def user_account(user, currency: Currency | str) -> Account:
    code = currency.pk if isinstance(currency, Currency) else currency
    return _get_or_create(kind=Account.Kind.USER, user=user, currency_id=code)


def system_account(kind: str, currency: Currency | str) -> Account:
    code = currency.pk if isinstance(currency, Currency) else currency
    return _get_or_create(kind=kind, user=None, currency_id=code)


def _get_or_create(**fields) -> Account:
    account = Account.objects.select_related("currency").filter(**fields).first()
    if account is not None:
        return account
    try:
        with transaction.atomic():
            Account.objects.create(**fields)
    except IntegrityError:
        pass  # created concurrently
    return Account.objects.select_related("currency").get(**fields)


# --- Holds ---------------------------------------------------------------------------------------


def hold(*, account: Account, amount: Decimal, owner: tuple[str, str]) -> Hold:
    """Move `amount` from available to locked for `owner`. Idempotent per owner and account."""
    key = f"hold:{owner[0]}:{owner[1]}:{account.pk}"
    with transaction.atomic():
        post(kind=Transaction.Kind.HOLD, idempotency_key=key, reference=owner,
             legs=[Leg(account, -amount, AVAILABLE), Leg(account, amount, LOCKED)])  # fmt: skip
        held, _ = Hold.objects.get_or_create(
            owner_type=owner[0], owner_id=str(owner[1]), account=account, defaults={"amount": amount}
        )
    return held


def hold_new_owner(*, account: Account, amount: Decimal, owner: tuple[str, str]) -> Hold:
    """`hold` for an owner created in the caller's transaction (a new order), whose caller already
    holds the lock on `account` (lock_accounts) and has checked its balance: no idempotency lookup
    is needed (the owner did not exist before). One call of the SQL function ledger_hold_new_owner
    (migration wallets/0013), which order entry's statement (orders_place) calls for every order:
    one implementation of the posting. The database still refuses a negative balance (CHECK) and
    an unbalanced posting (trigger)."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("hold_new_owner runs inside the caller's transaction")
    quantize_check(amount, account.currency)
    if amount <= 0:
        raise InvalidAmount("A hold is positive.")
    if amount > account.available:
        raise InsufficientFunds(details={"account": str(account)})
    with connection.cursor() as cursor:
        cursor.execute("SELECT ledger_hold_new_owner(%s, %s, %s, %s)", [account.pk, amount, owner[0], str(owner[1])])
        hold_id = cursor.fetchone()[0]
    account.available -= amount
    account.locked += amount
    held = Hold(id=hold_id, account=account, owner_type=owner[0], owner_id=str(owner[1]), amount=amount)
    held._state.adding = False
    return held


def release(*, hold_id: int, amount: Decimal | None = None, step: str = "release") -> Hold:
    """Give back (part of) a hold to available. `step` names this release for idempotency."""
    with transaction.atomic():
        held = Hold.objects.select_for_update(of=("self",)).select_related("account__currency").get(pk=hold_id)
        amount = held.amount if amount is None else amount
        if held.status != Hold.Status.ACTIVE or amount <= 0:
            return held
        if amount > held.amount:
            raise InsufficientFunds("Cannot release more than is held.")
        key = f"release:{held.pk}:{step}"
        txn = post(kind=Transaction.Kind.RELEASE, idempotency_key=key, reference=(held.owner_type, held.owner_id),
                   legs=[Leg(held.account, -amount, LOCKED), Leg(held.account, amount, AVAILABLE)])  # fmt: skip
        if not txn.created:
            return held  # this step was released before: nothing moves twice
        held.amount -= amount
        if held.amount == 0:
            held.status = Hold.Status.RELEASED
        held.save(update_fields=["amount", "status", "updated_at"])
    return held


def consume(*, hold_id: int, legs_out: list[Leg], kind: str, idempotency_key: str) -> Transaction:
    """Pay out of a hold: the locked funds go to `legs_out` (which must sum to the amount taken)."""
    with transaction.atomic():
        held = Hold.objects.select_for_update(of=("self",)).select_related("account__currency").get(pk=hold_id)
        existing = Transaction.objects.filter(idempotency_key=idempotency_key).first()
        if existing is not None:
            return existing
        taken = sum((leg.amount for leg in legs_out), Decimal(0))
        if held.status != Hold.Status.ACTIVE or taken > held.amount:
            raise InsufficientFunds("The hold does not cover this.")
        txn = post(kind=kind, idempotency_key=idempotency_key, reference=(held.owner_type, held.owner_id),
                   legs=[Leg(held.account, -taken, LOCKED), *legs_out])  # fmt: skip
        held.amount -= taken
        if held.amount == 0:
            held.status = Hold.Status.CONSUMED
        held.save(update_fields=["amount", "status", "updated_at"])
        return txn


@dataclass(frozen=True, slots=True)
class Posting:
    """One ledger transaction of a batch (`post_batch`). Legs are (account id, currency, bucket,
    amount), credit-positive, on liability accounts (users' and fee accounts)."""

    kind: str
    idempotency_key: str
    reference_type: str
    reference_id: str
    legs: list[tuple[int, str, str, Decimal]]
    memo: str = ""


def post_batch(cursor, postings: list[Posting], *, at) -> dict[int, tuple[Decimal, Decimal]]:
    """Write many postings in the caller's transaction (its open `cursor`) with four statements
    whatever their number: the matcher's settlement posts a batch's trades and releases with it.

    - balanced: each posting's legs sum to zero per currency (checked here, and by the deferred
      trigger at commit);
    - never negative: the CHECK constraints refuse a balance below zero, failing the caller's
      transaction (the caller has decided on the holds it consumes);
    - liability accounts only (a credit raises the balance): a leg on another account fails;
    - idempotent by key: a key already posted fails the COPY and with it the caller's transaction
      (the matcher's market cursor makes sure a batch is written once);
    - deadlock-free: the accounts are locked in ascending id order before any entry is written (so
      an account's entries also commit in id order, which the portfolio's per-account cursor reads).

    Returns the new (available, locked) of every account it changed."""
    if not postings:
        return {}
    deltas: dict[int, list[Decimal]] = {}
    for posting in postings:
        totals: dict[str, Decimal] = {}
        for account, currency, bucket, amount in posting.legs:
            totals[currency] = totals.get(currency, 0) + amount
            delta = deltas.get(account)
            if delta is None:
                delta = deltas[account] = [Decimal(0), Decimal(0)]
            delta[0 if bucket == AVAILABLE else 1] += amount
        if any(totals.values()):
            raise UnbalancedTransaction(details={"idempotency_key": posting.idempotency_key,
                                                 **{k: str(v) for k, v in totals.items() if v}})  # fmt: skip
    accounts = sorted(deltas)
    cursor.execute(
        "SELECT ARRAY(SELECT nextval('wallets_transaction_id_seq') FROM generate_series(1, %s)), "
        "ARRAY(SELECT id FROM wallets_account WHERE id = ANY(%s::bigint[]) ORDER BY id FOR UPDATE)",
        [len(postings), numeric_array(accounts)],
    )
    ids, _locked = cursor.fetchone()  # (an unknown account fails the entries' foreign key)
    with cursor.copy(
        "COPY wallets_transaction (id, kind, idempotency_key, reference_type, reference_id, memo, created_at) "
        "FROM STDIN"
    ) as copy:
        for txn_id, p in zip(ids, postings, strict=True):
            copy.write_row((txn_id, p.kind, p.idempotency_key, p.reference_type, p.reference_id, p.memo, at))
    with cursor.copy("COPY wallets_entry (transaction_id, account_id, currency_id, bucket, amount) FROM STDIN") as copy:
        for txn_id, p in zip(ids, postings, strict=True):
            for account, currency, bucket, amount in p.legs:
                copy.write_row((txn_id, account, currency, bucket, amount))
    cursor.execute(
        "UPDATE wallets_account a SET available = a.available + d.da, locked = a.locked + d.dl "
        "FROM unnest(%s::bigint[], %s::numeric[], %s::numeric[]) AS d(id, da, dl) "
        "WHERE a.id = d.id AND a.kind IN ('user', 'fees') RETURNING a.id, a.available, a.locked",
        [numeric_array(accounts), numeric_array(deltas[a][0] for a in accounts),
         numeric_array(deltas[a][1] for a in accounts)],
    )  # fmt: skip
    balances = {row[0]: (row[1], row[2]) for row in cursor.fetchall()}
    if len(balances) != len(accounts):
        raise InvalidAmount(f"post_batch posts to user and fee accounts only, not {set(accounts) - set(balances)}")
    return balances


def set_holds(cursor, holds: list[tuple[int, Decimal, str]], *, at) -> None:
    """The remaining amount and status of many holds, (hold id, amount, status), in the caller's
    transaction with one statement: the matcher's settlement, after `post_batch` has posted what
    the holds' orders consumed and released (so `locked` still equals the account's live holds when
    the transaction commits; verify_ledger checks it)."""
    if not holds:
        return
    cursor.execute(
        "UPDATE wallets_hold h SET amount = d.amount, status = d.status, updated_at = %s "
        "FROM unnest(%s::bigint[], %s::numeric[], %s::text[]) AS d(id, amount, status) WHERE h.id = d.id",
        [at, numeric_array(h[0] for h in holds), numeric_array(h[1] for h in holds), text_array(h[2] for h in holds)],
    )
