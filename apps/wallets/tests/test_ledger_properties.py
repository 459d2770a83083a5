"""Random sequences of ledger operations keep every invariant (hypothesis, real PostgreSQL)."""

from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from apps.wallets import ledger
from apps.wallets.exceptions import InsufficientFunds
from apps.wallets.models import Account
from apps.wallets.verification import verify_ledger
from tests import factories
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

AMOUNTS = st.decimals(min_value=Decimal("0.00000001"), max_value=Decimal("5"), places=8)
OPERATION = st.one_of(
    st.tuples(st.just("deposit"), st.integers(0, 2), AMOUNTS),
    st.tuples(st.just("transfer"), st.tuples(st.integers(0, 2), st.integers(0, 2)), AMOUNTS),
    st.tuples(st.just("hold"), st.integers(0, 2), AMOUNTS),
    st.tuples(st.just("release"), st.integers(0, 2), st.none()),
    st.tuples(st.just("fee"), st.integers(0, 2), AMOUNTS),
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(operations=st.lists(OPERATION, min_size=1, max_size=25))
def test_random_operations_keep_the_ledger_consistent(db, operations):
    currency = factories.currency("BTC")
    users = [UserFactory() for _ in range(3)]
    accounts = [ledger.user_account(u, currency) for u in users]
    hot = ledger.system_account(Account.Kind.HOT, currency)
    fees = ledger.system_account(Account.Kind.FEES, currency)
    holds: dict[int, list[int]] = {i: [] for i in range(3)}
    for step, (kind, who, amount) in enumerate(operations):
        key = f"{users[0].pk}-{step}"
        try:
            if kind == "deposit":
                ledger.post(kind="deposit", idempotency_key=key,
                            legs=[ledger.Leg(hot, -amount), ledger.Leg(accounts[who], amount)])  # fmt: skip
            elif kind == "transfer":
                sender, receiver = who
                if sender == receiver:
                    continue
                legs = [ledger.Leg(accounts[sender], -amount), ledger.Leg(accounts[receiver], amount)]
                ledger.post(kind="transfer", idempotency_key=key, legs=legs)
            elif kind == "hold":
                holds[who].append(ledger.hold(account=accounts[who], amount=amount, owner=("test", key)).pk)
            elif kind == "release" and holds[who]:
                ledger.release(hold_id=holds[who].pop())
            elif kind == "fee":
                ledger.post(kind="fee", idempotency_key=key,
                            legs=[ledger.Leg(accounts[who], -amount), ledger.Leg(fees, amount)])  # fmt: skip
        except InsufficientFunds:
            pass  # refused: must have changed nothing, which verify_ledger checks below
        for account in accounts:
            account.refresh_from_db()
            assert account.available >= 0 and account.locked >= 0
    assert verify_ledger() == []
