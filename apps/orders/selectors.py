"""Order reads."""

from __future__ import annotations

import time
from decimal import Decimal

from django.db.models import Q

from apps.markets.models import Market
from apps.markets.selectors import market_by_symbol
from apps.orders.exceptions import InvalidOrder, OrderNotFound
from apps.orders.models import Order


def last_price(market) -> Decimal | None:
    """The market's last trade price as the matcher recorded it (its state row, `Market.state`),
    reached through the market: orders does not import the matcher, which sits above it."""
    return Market.objects.filter(pk=market.pk).values_list("state__last_price", flat=True).first()


STATUS_FILTERS = {"open": Order.OPEN, "closed": Order.FINAL, "all": None}


def orders_for(user, *, status: str = "all", symbol: str | None = None, created_from=None, created_to=None):
    """The user's orders; `created_from` (inclusive) and `created_to` (exclusive) bound their creation
    time, which the (user, created_at, id) indexes serve."""
    if status not in STATUS_FILTERS:
        raise InvalidOrder(details={"status": [f"One of {', '.join(STATUS_FILTERS)}."]})
    orders = Order.objects.filter(user=user).select_related("market__base", "market__quote")
    if created_from is not None:
        orders = orders.filter(created_at__gte=created_from)
    if created_to is not None:
        orders = orders.filter(created_at__lt=created_to)
    if STATUS_FILTERS[status] is not None:
        orders = orders.filter(status__in=STATUS_FILTERS[status])
    if symbol:
        orders = orders.filter(market=market_by_symbol(symbol))
    return orders


def order_for(user, order_id: int) -> Order:
    order = (
        Order.objects.select_related("market__base", "market__quote").filter(pk=order_id, user=user).first()
        if 0 < order_id < 2**63
        else None
    )
    if order is None:
        raise OrderNotFound()
    return order


def unsettled_count() -> int:
    """Orders the matcher has still to act on: accepted but not yet applied, or open with a cancel
    requested. Zero once the matching engine has caught up with everything accepted."""
    return Order.objects.filter(
        Q(applied=False, status=Order.Status.NEW) | Q(status__in=Order.OPEN, cancel_requested_at__isnull=False)
    ).count()


def applied(order: Order, *, timeout: float) -> Order:
    """The order once the matcher has applied it (rested, filled, triggered or refused it: `applied`
    is set in the settlement that records it), or as it is after `timeout` seconds (a matcher that is
    behind or down). Reads the one row every 10 ms: POST /orders?wait=result."""
    deadline = time.monotonic() + timeout
    while not Order.objects.filter(pk=order.pk, applied=True).exists():
        if time.monotonic() >= deadline:
            break
        time.sleep(0.01)
    return Order.objects.select_related("market").get(pk=order.pk)
