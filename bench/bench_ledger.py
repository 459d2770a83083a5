"""Ledger postings against real PostgreSQL, in a throwaway database (the ledger is append-only).

Workload: 2,000 two-leg transfers between two users, one at a time (each its own transaction:
lock two rows in id order, update balances, insert the transaction and two entries); then the same
from 2 threads in opposite directions (contending for the same rows); then verify_ledger over
the result.
"""

from __future__ import annotations

import threading
import time
from decimal import Decimal

from bench.common import Figure, in_throwaway_database

N = 2000


def run() -> list[Figure]:
    return in_throwaway_database(lambda _settings: _measure())


def _measure() -> list[Figure]:
    from django.db import connection

    from apps.accounts.models import User
    from apps.wallets import ledger
    from apps.wallets.models import Account, Currency
    from apps.wallets.verification import verify_ledger

    btc = Currency.objects.create(code="BTC", name="Bitcoin", decimals=8)
    alice = User.objects.create_user("bench-alice", "a@bench.local")
    bob = User.objects.create_user("bench-bob", "b@bench.local")
    a, b = ledger.user_account(alice, btc), ledger.user_account(bob, btc)
    hot = ledger.system_account(Account.Kind.HOT, btc)
    ledger.post(kind="deposit", idempotency_key="seed", legs=[ledger.Leg(hot, Decimal(-10**6)),
                                                                ledger.Leg(a, Decimal(10**6))])  # fmt: skip
    one = Decimal("0.00000001")

    started = time.perf_counter()
    for i in range(N):
        ledger.post(kind="transfer", idempotency_key=f"s{i}", legs=[ledger.Leg(a, -one), ledger.Leg(b, one)])
    sequential = N / (time.perf_counter() - started)

    def direction(src, dst, prefix):
        for i in range(N // 2):
            ledger.post(kind="transfer", idempotency_key=f"{prefix}{i}", legs=[ledger.Leg(src, -one),
                                                                              ledger.Leg(dst, one)])  # fmt: skip
        connection.close()

    threads = [threading.Thread(target=direction, args=(a, b, "ab")),
               threading.Thread(target=direction, args=(b, a, "ba"))]  # fmt: skip
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    contended = N / (time.perf_counter() - started)

    started = time.perf_counter()
    violations = verify_ledger()
    verify_ms = (time.perf_counter() - started) * 1000
    if violations:
        raise RuntimeError(f"ledger violations after the benchmark: {violations[:3]}")
    return [
        Figure("ledger transfer, sequential", sequential, "posts/s"),
        Figure("ledger transfer, 2 threads on the same rows", contended, "posts/s"),
        Figure(f"verify_ledger over {2 * N + 1} transactions", verify_ms, "ms"),
    ]
