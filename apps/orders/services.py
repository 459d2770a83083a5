"""Order entry: placement and cancellation (docs/architecture.md "The life of an order", steps 1 and 3).

`place_order` guarantees: the order row and its hold commit together or not at all (the user's
account rows are locked in id order, the hold moves funds from available to locked through the
ledger); a repeated `client_order_id` returns the first order and moves nothing, also when the
repeats race; the `new` command is sent to the market's stream only after the commit, and an order
whose command was lost is re-sent by the matcher's recovery. After placement only the matcher
changes an order's status and fills.
"""

from __future__ import annotations

import contextlib
import functools
import json
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

import redis
from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, IntegrityError, connection, transaction
from django.utils import timezone

from apps.core.exceptions import DomainError
from apps.core.fields import format_time
from apps.kyc.selectors import limits_for
from apps.markets import streams
from apps.markets.exceptions import MarketHalted
from apps.markets.models import Market
from apps.markets.selectors import market_by_symbol
from apps.orders import checks, selectors
from apps.orders.exceptions import (
    BelowMinNotional,
    InvalidOrder,
    InvalidPriceTick,
    InvalidQuantityStep,
    OrderClosed,
    OrderNotFound,
    TooManyOpenOrders,
    TradingNotAllowed,
)
from apps.orders.models import Order
from apps.wallets.exceptions import InsufficientFunds

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
    for a repeat of a `client_order_id` (the original order, nothing moved). Raises the refusal."""
    result = place_orders(user=user, requests=[request])[0]
    if isinstance(result, DomainError):
        raise result
    return result


def place_orders(*, user, requests: list[OrderRequest]) -> list[tuple[Order, bool] | DomainError]:
    """Place each order or refuse it on its own (a batch: POST /orders/batch). Each result is
    (order, created) or the refusal (a DomainError, not raised). The database work of all of them
    is one statement, `orders_place` (migration orders/0003): the locks, the halt and open-orders
    checks, the balance check, the order rows, their holds and ledger postings, all or nothing per
    order; a refused order writes nothing. Only what needs no database is checked here first."""
    results: list = [None] * len(requests)
    prepared: list[tuple[int, _Prepared]] = []
    may_trade = functools.cache(lambda: limits_for(user)["trading"])  # asked once, and only if needed
    for i, request in enumerate(requests):
        try:
            prepared.append((i, _prepare(request, may_trade)))
        except DomainError as refusal:
            results[i] = _repeat_or(user, request, refusal)
    if prepared:
        rows = _place(user, [entry.row for _, entry in prepared])
        for (i, entry), row in zip(prepared, rows, strict=True):
            results[i] = _outcome(user, entry, row)
    created = [result[0] for result in results if isinstance(result, tuple) and result[1]]
    if created:
        transaction.on_commit(lambda: _send_new(created))
    return results


@dataclass(frozen=True)
class _Prepared:
    market: Market
    request: OrderRequest
    hold: Decimal | None  # None: a market buy by quantity holds what is available (decided under the lock)
    row: dict


def _prepare(request: OrderRequest, may_trade: Callable[[], bool]) -> _Prepared:
    """Everything that needs no database: the market (cached registry), a halt already known, the
    user's permission to trade, the filters and the stateless pre-trade checks, the hold. Raises
    the refusal, in the order the API has always checked them."""
    market = market_by_symbol(request.symbol)
    _refuse_if_halted(market)
    if not may_trade():
        raise TradingNotAllowed()
    notional = validate_order(market, request)
    proposed = checks.Proposed(market=market, user_id=0, side=request.side, type=request.type,
                               quantity=request.quantity, price=request.price, notional=notional)  # fmt: skip
    checks.run(proposed, checks.BEFORE)
    buy = request.side == S.BUY
    pays, gets = (market.quote_id, market.base_id) if buy else (market.base_id, market.quote_id)
    by_quantity = buy and request.type == T.MARKET and request.quote_quantity is None
    hold = None if by_quantity else hold_amount(market, request, available=Decimal(0))
    max_open = market.max_open_orders if settings.PRE_TRADE_CHECKS else None
    text = lambda value: None if value is None else str(value)  # noqa: E731 - exact decimal strings
    row = {
        "market": market.pk, "side": request.side, "type": request.type, "tif": request.time_in_force,
        "post_only": request.post_only, "stp": request.self_trade_prevention, "coid": request.client_order_id,
        "price": text(request.price), "stop_price": text(request.stop_price), "quantity": text(request.quantity),
        "quote_quantity": text(request.quote_quantity), "pays": pays, "gets": gets, "hold": text(hold),
        "unit": str(market.notional_unit), "max_open": max_open,
    }  # fmt: skip
    return _Prepared(market=market, request=request, hold=hold, row=row)


def _place(user, rows: list[dict]) -> list[tuple]:
    """One statement; in autocommit (the API's requests) one round trip that commits. A unique
    violation of a client_order_id (a writer that skipped the function's lock on it) rolls the
    statement back; run again, it answers the committed order as a repeat."""
    sql, params = "SELECT * FROM orders_place(%s, %s::jsonb)", [user.pk, json.dumps(rows)]

    def run() -> list[tuple]:
        savepoint = transaction.atomic() if connection.in_atomic_block else contextlib.nullcontext()
        with savepoint, connection.cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.fetchall()

    try:
        return run()
    except IntegrityError:
        return run()


def _outcome(user, entry: _Prepared, row: tuple) -> tuple[Order, bool] | DomainError:
    order_id, created, refusal, available, _, open_count, reason, until, at, hold_id = row
    market, r = entry.market, entry.request
    if refusal == "market_halted":
        details = {"symbol": market.symbol, "reason": reason}
        if until is not None:
            details["resumes_at"] = format_time(until)
        return MarketHalted(details=details)
    if refusal == "too_many_open_orders":
        return TooManyOpenOrders(details={"max_open_orders": market.max_open_orders, "open_orders": open_count})
    if refusal == "insufficient_funds":
        needed = entry.hold if entry.hold is not None else (available // market.notional_unit) * market.notional_unit
        return InsufficientFunds(details={"currency": entry.row["pays"], "available": str(available),
                                          "required": str(needed)})  # fmt: skip
    if not created:
        return _by_client_order_id(user, r.client_order_id), False
    values = {
        **_new_order_defaults(), "id": order_id, "user_id": user.pk, "market_id": market.pk, "side": r.side,
        "type": r.type, "quantity": r.quantity, "quote_quantity": r.quote_quantity, "price": r.price,
        "stop_price": r.stop_price, "time_in_force": r.time_in_force, "post_only": r.post_only,
        "client_order_id": r.client_order_id, "self_trade_prevention": r.self_trade_prevention, "hold_id": hold_id,
        "created_at": at, "updated_at": at,
    }  # fmt: skip
    # The row as the statement wrote it, made as a loaded row is (half the CPU of Order(**fields)).
    order = Order.from_db(DEFAULT_DB_ALIAS, _ORDER_COLUMNS, [values[name] for name in _ORDER_COLUMNS])
    Order.market.field.set_cached_value(order, market)
    return order, True


_ORDER_COLUMNS = tuple(field.attname for field in Order._meta.concrete_fields)


@functools.cache
def _new_order_defaults() -> dict:
    """The columns orders_place leaves at their defaults, as Order() would set them."""
    return {field.attname: field.get_default() for field in Order._meta.concrete_fields}


def _repeat_or(user, request: OrderRequest, refusal: DomainError) -> tuple[Order, bool] | DomainError:
    """A request refused before the database may still repeat an earlier client_order_id: that
    answers with the first order, as the statement would have (docs/api.md: a repeat answers 200)."""
    if request.client_order_id and isinstance(request.client_order_id, str):
        existing = _by_client_order_id(user, request.client_order_id)
        if existing is not None:
            return existing, False
    return refusal


def _send_new(orders: list[Order]) -> None:
    """The `new` commands, after the commit: one XADD for one order, one pipeline per market for a
    batch. Redis down loses nothing: committed orders wait for the matcher's recovery."""
    if len(orders) == 1:
        streams.send(orders[0].market.symbol, "new", orders[0].pk)
        return
    by_symbol: dict[str, list[tuple[str, int]]] = {}
    for order in orders:
        by_symbol.setdefault(order.market.symbol, []).append(("new", order.pk))
    for symbol, commands in by_symbol.items():
        try:
            streams.send_many(symbol, commands)
        except redis.RedisError:
            streams.logger.warning("order stream unavailable; %d orders wait for recovery", len(commands))


def _refuse_if_halted(market: Market) -> None:
    if market.halted_at(timezone.now()):
        details = {"symbol": market.symbol, "reason": market.status_reason}
        if market.halted_until is not None:
            details["resumes_at"] = format_time(market.halted_until)
        raise MarketHalted(details=details)


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
    """Decimal places as written ("100.000" has 3): docs/api.md refuses more than the market allows."""
    return max(0, -value.as_tuple().exponent)


def estimated_notional(market: Market, r: OrderRequest) -> Decimal | None:
    """The order's value in quote: exact for limits and buys by quote; at the stop price for stop
    markets; at the last trade price for market orders by quantity (None before the first trade)."""
    if r.quote_quantity is not None:
        return r.quote_quantity
    price = r.price if r.price is not None else r.stop_price
    if price is None:
        price = selectors.last_price(market)
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


def request_cancels(*, user, order_ids: list[int]) -> list[Order | DomainError]:
    """Cancel requests for several orders (DELETE /orders/batch): each result is the order (its
    cancel recorded and sent) or the refusal, OrderNotFound (also another user's) or OrderClosed.
    One transaction: the orders locked in id order (as the matcher takes them), the requests
    recorded in one UPDATE, the commands sent after the commit in one pipeline per market."""
    wanted = [order_id for order_id in order_ids if 0 < order_id < 2**63]
    now = timezone.now()
    with transaction.atomic():
        found = {
            order.pk: order
            for order in Order.objects.select_for_update(of=("self",)).select_related("market__base", "market__quote")
            .filter(pk__in=wanted, user=user).order_by("pk")
        }  # fmt: skip
        fresh = [o.pk for o in found.values() if o.is_open and o.cancel_requested_at is None]
        if fresh:
            Order.objects.filter(pk__in=fresh).update(cancel_requested_at=now)
        results: list[Order | DomainError] = []
        by_symbol: dict[str, list[tuple[str, int]]] = {}
        for order_id in order_ids:
            order = found.get(order_id)
            if order is None:
                results.append(OrderNotFound(details={"id": order_id}))
            elif not order.is_open:
                results.append(OrderClosed(details={"id": order_id, "status": order.status}))
            else:
                order.cancel_requested_at = order.cancel_requested_at or now
                by_symbol.setdefault(order.market.symbol, []).append(("cancel", order.pk))
                results.append(order)

        def send():
            for symbol, commands in by_symbol.items():
                try:
                    streams.send_many(symbol, commands)
                except redis.RedisError:  # the matcher's recovery sends recorded cancel requests
                    streams.logger.warning("order stream unavailable; %d cancels wait for recovery", len(commands))

        transaction.on_commit(send)
    return results
