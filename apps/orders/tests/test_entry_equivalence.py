"""Order entry in one statement (orders_place) against the path it replaced (reference_entry): the
same random requests, good and bad, from the same starting state get the same answers and leave the
same balances, holds, ledger and orders (issue 21)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db import transaction
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from apps.core.exceptions import DomainError
from apps.markets.models import Market
from apps.matching.models import MarketState
from apps.orders import services
from apps.orders.models import Order
from apps.orders.serializers import order_payload
from apps.orders.services import OrderRequest
from apps.orders.tests import reference_entry
from apps.wallets.models import Account, Entry, Hold
from tests import factories
from tests.factories import funded_trader

pytestmark = pytest.mark.django_db

AMOUNTS = ["0.0001", "0.001", "0.01", "0.5", "2", "0.00005", "30000"]
PRICES = ["0.01", "9000", "10000.00", "10000.5", "10000.005", "11000", "999999"]


@st.composite
def requests(draw):
    kind = draw(st.sampled_from(["limit", "limit", "market", "stop_limit", "stop_market"]))
    side = draw(st.sampled_from(["buy", "sell"]))
    dec = lambda values: draw(st.one_of(st.none(), st.sampled_from(values).map(Decimal)))  # noqa: E731
    return OrderRequest(
        symbol=draw(st.sampled_from(["BTC-USDT", "BTC-USDT", "BTC-USDT", "ETH-USDT"])),
        side=side, type=kind, quantity=dec(AMOUNTS), quote_quantity=dec(["5", "100", "0.0000001"]),
        price=dec(PRICES), stop_price=dec(PRICES),
        time_in_force=draw(st.sampled_from(["gtc", "gtc", "ioc", "fok"])), post_only=draw(st.booleans()),
        client_order_id=draw(st.sampled_from(["", "", "", "a", "b"])),
    )  # fmt: skip


scenarios = st.fixed_dictionaries({
    "requests": st.lists(st.tuples(st.integers(0, 1), requests()), min_size=1, max_size=8),
    "funds": st.lists(st.tuples(st.sampled_from(["0", "0.3", "5"]), st.sampled_from(["0", "150", "90000"])),
                      min_size=2, max_size=2),
    "levels": st.lists(st.sampled_from([1, 1, 0]), min_size=2, max_size=2),
    "max_open_orders": st.sampled_from([None, None, 1, 2]),
    "max_order_quantity": st.sampled_from([None, Decimal("1")]),
    "halted": st.sampled_from([False, False, False, True]),
    "last_price": st.sampled_from([None, Decimal("10000")]),
    "checks": st.booleans(),
})  # fmt: skip


def _run(scenario, place, market) -> tuple[list, dict]:
    """Run the scenario's requests through `place` from a fresh state; return the answers and the
    state, with ids replaced by their order of creation. Everything is rolled back afterwards."""
    with transaction.atomic():
        Market.objects.filter(pk=market.pk).update(
            max_open_orders=scenario["max_open_orders"], max_order_quantity=scenario["max_order_quantity"],
            status="halted" if scenario["halted"] else "trading", status_reason="maintenance" * scenario["halted"],
        )  # fmt: skip
        if scenario["last_price"] is not None:
            MarketState.objects.update_or_create(market=market, defaults={"last_price": scenario["last_price"]})
        users = [
            funded_trader(btc=btc, usdt=usdt, level=level)
            for (btc, usdt), level in zip(scenario["funds"], scenario["levels"], strict=True)
        ]
        first_order = (Order.objects.order_by("-pk").values_list("pk", flat=True).first() or 0) + 1
        answers = []
        for who, request in scenario["requests"]:
            try:
                order, created = place(user=users[who], request=request)
                payload = order_payload(order)
                answers.append((201 if created else 200, {k: v for k, v in payload.items()
                                                          if k not in ("id", "created_at", "updated_at")},
                                order.pk))  # fmt: skip
            except DomainError as refusal:
                answers.append((refusal.status_code, refusal.code, refusal.details))
        state = _state(users, first_order)
        # Ids are not the contract (a sequence has gaps): answers name orders by order of creation.
        rank = {pk: i for i, pk in enumerate(Order.objects.filter(pk__gte=first_order).order_by("pk")
                                             .values_list("pk", flat=True))}  # fmt: skip
        answers = [(*answer[:2], rank[answer[2]]) if answer[0] in (200, 201) else answer for answer in answers]
        transaction.set_rollback(True)
    return answers, state


def _state(users, first_order) -> dict:
    index = {user.pk: i for i, user in enumerate(users)}
    accounts = {
        (index[a.user_id], a.currency_id): (a.available, a.locked)
        for a in Account.objects.filter(user__in=users) if a.available or a.locked
    }  # fmt: skip
    orders = list(
        Order.objects.filter(pk__gte=first_order).order_by("pk").values_list(
            "user_id", "side", "type", "price", "stop_price", "quantity", "quote_quantity", "client_order_id",
            "status", "hold__amount", "hold__status", "hold__account__currency_id")
    )  # fmt: skip
    orders = [(index[row[0]], *row[1:]) for row in orders]
    order_ids = {pk: i for i, pk in enumerate(Order.objects.filter(pk__gte=first_order).order_by("pk")
                                               .values_list("pk", flat=True))}  # fmt: skip
    holds = sorted((order_ids[int(h.owner_id)], h.amount, h.status)
                   for h in Hold.objects.filter(owner_type="order", account__user__in=users))  # fmt: skip
    entries = sorted(
        (e.transaction.kind, order_ids.get(int(e.transaction.reference_id or 0)), index[e.account.user_id],
         e.currency_id, e.bucket, e.amount)
        for e in Entry.objects.filter(account__user__in=users, transaction__kind="hold")
        .select_related("transaction", "account")
    )  # fmt: skip
    return {"accounts": accounts, "orders": orders, "holds": holds, "entries": entries}


@pytest.fixture
def markets(market):
    eth = factories.market("ETH", "USDT", tick_size="0.01", lot_size="0.001", min_notional="1")
    return market, eth


# No shrinking: each example builds two states; a failure prints its scenario as found.
@settings(
    max_examples=60,
    deadline=None,
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(scenario=scenarios)
def test_one_statement_answers_and_writes_what_the_reference_path_did(markets, scenario):
    from django.test import override_settings

    with override_settings(PRE_TRADE_CHECKS=scenario["checks"]):
        expected = _run(scenario, reference_entry.place_order, markets[0])
        actual = _run(scenario, services.place_order, markets[0])
    assert actual[0] == expected[0]
    assert actual[1] == expected[1]
