"""Ledger invariants (docs/architecture.md "Money: the ledger", invariants 1-4), checked in SQL over the whole ledger.

1. each ledger transaction sums to zero per currency;
2. each balance equals the sum of its account's entries (on the account's normal side);
3. per currency, users + fees == hot + cold + in transit (+ sandbox issuance: every account
   that is not a liability is on the held side);
4. `locked` equals the live holds of the account, and no hold is negative.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import connection


@dataclass(frozen=True)
class Violation:
    invariant: int
    subject: str
    detail: str


UNBALANCED = """
SELECT transaction_id, currency_id, SUM(amount) FROM wallets_entry
GROUP BY transaction_id, currency_id HAVING SUM(amount) <> 0
"""

BALANCE_MISMATCH = """
SELECT a.id, a.kind, a.currency_id, a.available, a.locked,
       COALESCE(SUM(e.amount) FILTER (WHERE e.bucket = 'available'), 0) AS credit_available,
       COALESCE(SUM(e.amount) FILTER (WHERE e.bucket = 'locked'), 0) AS credit_locked
FROM wallets_account a LEFT JOIN wallets_entry e ON e.account_id = a.id
GROUP BY a.id
HAVING a.available <> CASE WHEN a.kind IN ('user', 'fees')
                           THEN COALESCE(SUM(e.amount) FILTER (WHERE e.bucket = 'available'), 0)
                           ELSE -COALESCE(SUM(e.amount) FILTER (WHERE e.bucket = 'available'), 0) END
    OR a.locked <> CASE WHEN a.kind IN ('user', 'fees')
                        THEN COALESCE(SUM(e.amount) FILTER (WHERE e.bucket = 'locked'), 0)
                        ELSE -COALESCE(SUM(e.amount) FILTER (WHERE e.bucket = 'locked'), 0) END
"""

SOLVENCY = """
SELECT currency_id,
       SUM(CASE WHEN kind IN ('user', 'fees') THEN available + locked ELSE 0 END) AS owed,
       SUM(CASE WHEN kind IN ('user', 'fees') THEN 0 ELSE available + locked END) AS held
FROM wallets_account GROUP BY currency_id
HAVING SUM(CASE WHEN kind IN ('user', 'fees') THEN available + locked ELSE -(available + locked) END) <> 0
"""

HOLDS_MISMATCH = """
SELECT a.id, a.currency_id, a.locked, COALESCE(SUM(h.amount) FILTER (WHERE h.status = 'active'), 0)
FROM wallets_account a LEFT JOIN wallets_hold h ON h.account_id = a.id
GROUP BY a.id
HAVING a.locked <> COALESCE(SUM(h.amount) FILTER (WHERE h.status = 'active'), 0)
"""


def verify_ledger() -> list[Violation]:
    """Every violation of invariants 1-4; an empty list means the ledger is consistent."""
    violations: list[Violation] = []
    with connection.cursor() as cursor:
        cursor.execute(UNBALANCED)
        for txn, currency, total in cursor.fetchall():
            violations.append(Violation(1, f"transaction {txn}", f"{currency} entries sum to {total}"))
        cursor.execute(BALANCE_MISMATCH)
        for account, kind, currency, available, locked, credit_available, credit_locked in cursor.fetchall():
            violations.append(Violation(
                2, f"account {account} ({kind} {currency})",
                f"balance available={available} locked={locked}; entries say {credit_available}/{credit_locked} "
                "(credit-positive)",
            ))  # fmt: skip
        cursor.execute(SOLVENCY)
        for currency, owed, held in cursor.fetchall():
            violations.append(Violation(3, currency, f"owed to users and fees {owed} != held {held}"))
        cursor.execute(HOLDS_MISMATCH)
        for account, currency, locked, held in cursor.fetchall():
            violations.append(Violation(4, f"account {account} ({currency})", f"locked {locked} != live holds {held}"))
    return violations
