"""The order entry path before issue 21, kept as the reference the new one is compared with
(apps/orders/tests/test_entry_equivalence.py): the same requests must get the same answers and leave the
same balances, holds and ledger. Nine ORM statements in one transaction; see git history for its
place in apps/orders/services.py.
"""

from __future__ import annotations

from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from apps.core.fields import format_time
from apps.kyc.selectors import limits_for
from apps.markets.exceptions import MarketHalted
from apps.markets.models import Market
from apps.markets.selectors import market_by_symbol
from apps.orders import checks
from apps.orders.exceptions import TradingNotAllowed
from apps.orders.models import Order
from apps.orders.services import OrderRequest, S, hold_amount, validate_order
from apps.wallets import ledger
from apps.wallets.exceptions import InsufficientFunds
from apps.wallets.models import Account


def place_order(*, user, request: OrderRequest) -> tuple[Order, bool]:
    """Validate, hold the funds and record the order; returns (order, created). created is False
    for a repeat of a `client_order_id` (the original order, nothing moved)."""
    if request.client_order_id:
        existing = _by_client_order_id(user, request.client_order_id)
        if existing is not None:
            return existing, False
    market = market_by_symbol(request.symbol)
    _refuse_if_halted(market)
    if not limits_for(user)["trading"]:
        raise TradingNotAllowed()
    notional = validate_order(market, request)
    proposed = checks.Proposed(market=market, user_id=user.pk, side=request.side, type=request.type,
                               quantity=request.quantity, price=request.price, notional=notional)  # fmt: skip
    checks.run(proposed, checks.BEFORE)
    # The account that pays (locked here) and the one that receives (so the matcher finds it).
    pays_code, gets_code = (
        (market.quote_id, market.base_id) if request.side == S.BUY else (market.base_id, market.quote_id)
    )
    if not Account.objects.filter(kind=Account.Kind.USER, user=user, currency_id=gets_code).exists():
        ledger.user_account(user, gets_code)
    try:
        with transaction.atomic():
            _lock_trading(market)
            checks.run(proposed, checks.INSIDE)  # before the hold, under its own lock
            pays = ledger.lock_user_account(user, pays_code)
            amount = hold_amount(market, request, available=pays.available)
            if amount <= 0 or amount > pays.available:
                raise InsufficientFunds(details={"currency": pays.currency_id, "available": str(pays.available),
                                                 "required": str(amount)})  # fmt: skip
            order = Order.objects.create(
                user=user, market=market, side=request.side, type=request.type, quantity=request.quantity,
                quote_quantity=request.quote_quantity, price=request.price, stop_price=request.stop_price,
                time_in_force=request.time_in_force, post_only=request.post_only,
                client_order_id=request.client_order_id, self_trade_prevention=request.self_trade_prevention,
            )  # fmt: skip
            order.hold = ledger.hold_new_owner(account=pays, amount=amount, owner=("order", order.pk))
            order.save(update_fields=["hold"])
    except IntegrityError:
        # The same client_order_id committed by a concurrent request: answer with that order.
        existing = _by_client_order_id(user, request.client_order_id) if request.client_order_id else None
        if existing is None:
            raise
        return existing, False
    order.market = market
    return order, True


def _refuse_if_halted(market: Market) -> None:
    if market.halted_at(timezone.now()):
        details = {"symbol": market.symbol, "reason": market.status_reason}
        if market.halted_until is not None:
            details["resumes_at"] = format_time(market.halted_until)
        raise MarketHalted(details=details)


def _lock_trading(market: Market) -> None:
    """Read the market's status again under a KEY SHARE lock, inside the order's transaction. A halt
    (set_status, the kill switch) takes the row FOR UPDATE: it waits for orders already past this
    point to commit, and orders arriving later wait for it and then see the halt. So no order is
    accepted after a halt commits. KEY SHARE is the lock the order's foreign key takes anyway:
    concurrent orders do not wait for each other here."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT status, status_reason, halted_until FROM markets_market WHERE id = %s FOR KEY SHARE",
                       [market.pk])  # fmt: skip
        market.status, market.status_reason, market.halted_until = cursor.fetchone()
    _refuse_if_halted(market)


def _by_client_order_id(user, client_order_id: str) -> Order | None:
    return Order.objects.select_related("market").filter(user=user, client_order_id=client_order_id).first()
