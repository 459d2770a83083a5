"""Order entry: placement and cancellation (ARCHITECTURE.md, The life of an order, steps 1 and 3).

`place_order` guarantees: the order row and its hold commit together or not at all (the user's
account rows are locked in id order, the hold moves funds from available to locked through the
ledger); a repeated `client_order_id` returns the first order and moves nothing, also when the
repeats race; the `new` command is sent to the market's stream only after the commit, and an order
whose command was lost is re-sent by the matcher's recovery. After placement only the matcher
changes an order's status and fills.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

import redis
from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from apps.core.fields import format_time
from apps.kyc.selectors import limits_for
from apps.markets.exceptions import MarketHalted
from apps.markets.models import Market
from apps.markets.selectors import market_by_symbol
from apps.matching.models import MarketState
from apps.orders import checks, streams
from apps.orders.exceptions import (
    BelowMinNotional,
    InvalidOrder,
    InvalidPriceTick,
    InvalidQuantityStep,
    OrderClosed,
    OrderNotFound,
    TradingNotAllowed,
)
from apps.orders.models import Order
from apps.wallets import ledger
from apps.wallets.exceptions import InsufficientFunds
from apps.wallets.models import Account

T, S, TIF = Order.Type, Order.Side, Order.TimeInForce
# NUMERIC(36, 18) holds 18 integer digits; keep every amount an order can produce well inside it.
MAX_AMOUNT = Decimal(10) ** 15


@dataclass(frozen=True)
class OrderRequest:
    symbol: str
    side: str
    type: str
    quantity: Decimal | None = None
    quote_quantity: Decimal | None = None
    price: Decimal | None = None
    stop_price: Decimal | None = None
    time_in_force: str = TIF.GTC
    post_only: bool = False
    client_order_id: str = ""
    self_trade_prevention: str = Order.SelfTradePrevention.CANCEL_RESTING


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
            transaction.on_commit(lambda: streams.send(market.symbol, "new", order.pk))
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


def validate_order(market: Market, r: OrderRequest) -> Decimal | None:
    """The market's filters and the rules of each order type. Raises before anything is written;
    returns the order's estimated notional (estimated_notional)."""
    errors: dict[str, list[str]] = {}

    def need(field, present, why):
        if present and getattr(r, field) is None:
            errors.setdefault(field, []).append(f"Required for {why}.")
        elif not present and getattr(r, field) is not None:
            errors.setdefault(field, []).append(f"Not allowed for {why}.")

    is_market = r.type in (T.MARKET, T.STOP_MARKET)
    need("price", not is_market, f"a {r.type} order")
    need("stop_price", r.type in (T.STOP_LIMIT, T.STOP_MARKET), f"a {r.type} order")
    if is_market and r.side == S.BUY:
        if (r.quantity is None) == (r.quote_quantity is None):
            errors.setdefault("quantity", []).append("A market buy takes either quantity or quote_quantity.")
    else:
        need("quantity", True, f"a {r.side} {r.type} order")
        need("quote_quantity", False, f"a {r.side} {r.type} order")
    if r.post_only and (is_market or r.time_in_force != TIF.GTC):
        errors.setdefault("post_only", []).append("Only for limit orders that rest (time_in_force gtc).")
    for field in ("quantity", "quote_quantity", "price", "stop_price"):
        value = getattr(r, field)
        if value is not None and value >= MAX_AMOUNT:
            errors.setdefault(field, []).append(f"Must be less than {MAX_AMOUNT:,}.")
    if errors:
        raise InvalidOrder(details=errors)

    for field in ("price", "stop_price"):
        value = getattr(r, field)
        if value is not None and places(value) > market.price_decimals:
            raise InvalidPriceTick(details={field: [f"At most {market.price_decimals} decimals on {market.symbol}."]})
        if value is not None and value % market.tick_size:
            raise InvalidPriceTick(details={field: [f"Must be a multiple of {market.tick_size.normalize():f}."]})
    if r.quantity is not None and places(r.quantity) > market.quantity_decimals:
        raise InvalidQuantityStep(
            details={"quantity": [f"At most {market.quantity_decimals} decimals on {market.symbol}."]}
        )
    if r.quote_quantity is not None and places(r.quote_quantity) > market.quote.decimals:
        raise InvalidQuantityStep(details={"quote_quantity": [f"At most {market.quote.decimals} decimals."]})
    if r.quantity is not None and r.quantity % market.lot_size:
        raise InvalidQuantityStep(details={"quantity": [f"Must be a multiple of {market.lot_size.normalize():f}."]})
    if r.quote_quantity is not None and r.quote_quantity % market.notional_unit:
        raise InvalidQuantityStep(details={"quote_quantity": [
            f"Must be a multiple of {market.notional_unit.normalize():f} {market.quote_id}."]})  # fmt: skip
    notional = estimated_notional(market, r)
    if notional is not None and notional >= MAX_AMOUNT:
        raise InvalidOrder(details={"quantity": ["The order's value is too large."]})
    if notional is not None and notional < market.min_notional:
        raise BelowMinNotional(details={"min_notional": f"{market.min_notional.normalize():f}",
                                        "notional": f"{notional.normalize():f}"})  # fmt: skip
    return notional


def places(value: Decimal) -> int:
    """Decimal places as written ("100.000" has 3): API.md refuses more than the market allows."""
    return max(0, -value.as_tuple().exponent)


def estimated_notional(market: Market, r: OrderRequest) -> Decimal | None:
    """The order's value in quote: exact for limits and buys by quote; at the stop price for stop
    markets; at the last trade price for market orders by quantity (None before the first trade)."""
    if r.quote_quantity is not None:
        return r.quote_quantity
    price = r.price if r.price is not None else r.stop_price
    if price is None:
        price = MarketState.objects.filter(market=market).values_list("last_price", flat=True).first()
    return None if price is None else price * r.quantity


def hold_amount(market: Market, r: OrderRequest, *, available: Decimal) -> Decimal:
    """What the order must set aside: what it can pay at most. Fees are taken from what each side
    receives, so they never need a hold."""
    if r.side == S.SELL:
        return r.quantity
    if r.quote_quantity is not None:
        return r.quote_quantity
    if r.type in (T.LIMIT, T.STOP_LIMIT):
        return r.price * r.quantity
    if r.type == T.STOP_MARKET:
        budget = r.stop_price * r.quantity * (1 + settings.STOP_MARKET_BUY_MARGIN)
        return budget.quantize(market.notional_unit)
    # A market buy by quantity cannot know its price: it may spend the whole available balance,
    # and whatever it does not spend is released when the matcher settles it (a moment later).
    return (available // market.notional_unit) * market.notional_unit


def request_cancel(*, user, order_id: int) -> Order:
    """Record the cancel request on the order, then send it to the matcher. Idempotent: a second
    request for the same open order sends the command again (harmless) and answers the same.
    Raises OrderNotFound (also for another user's order) or OrderClosed (already final)."""
    with transaction.atomic():
        order = (
            Order.objects.select_for_update(of=("self",)).select_related("market")
            .filter(pk=order_id, user=user).first() if 0 < order_id < 2**63 else None
        )  # fmt: skip
        if order is None:
            raise OrderNotFound()
        if not order.is_open:
            raise OrderClosed(details={"status": order.status})
        if order.cancel_requested_at is None:
            order.cancel_requested_at = timezone.now()
            order.save(update_fields=["cancel_requested_at"])
        symbol = order.market.symbol
        transaction.on_commit(lambda: streams.send(symbol, "cancel", order.pk))
    return order


def request_cancel_all(*, user, symbol: str | None = None) -> int:
    """Cancel requests for all the user's open orders (of one market). Returns how many were sent."""
    orders = Order.objects.filter(user=user, status__in=Order.OPEN)
    if symbol:
        orders = orders.filter(market=market_by_symbol(symbol))
    now = timezone.now()
    by_symbol: dict[str, list[tuple[str, int]]] = {}
    with transaction.atomic():
        # Row locks in id order, as the matcher takes them: no deadlock between the two.
        rows = list(orders.select_for_update(of=("self",)).order_by("pk").values_list("pk", "market__symbol"))
        Order.objects.filter(pk__in=[pk for pk, _ in rows], cancel_requested_at__isnull=True).update(
            cancel_requested_at=now
        )
        for pk, sym in rows:
            by_symbol.setdefault(sym, []).append(("cancel", pk))

        def send():
            for sym, commands in by_symbol.items():
                try:
                    streams.send_many(sym, commands)
                except redis.RedisError:  # Redis down: the matcher's recovery sends them
                    streams.logger.warning("order stream unavailable; %d cancels wait for recovery", len(commands))

        transaction.on_commit(send)
    return len(rows)
