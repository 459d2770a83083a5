"""Between the market's decimals and the engine's integers: prices in ticks, quantities in lots,
fractions in parts per million (apps.core.money does the exact arithmetic). The engine never sees
a Decimal; settlement turns its integers back into amounts (settlement.Batch.fill)."""

from __future__ import annotations

from decimal import Decimal

from apps.core import money
from apps.markets.models import Market
from apps.matching.engine import PPM, EngineOrder
from apps.matching.gate import BreakerConfig
from apps.matching.rows import OrderRow
from apps.matching.settlement import MarketContext, Ticket
from apps.orders.models import Order

MARKET_BUYS = (Order.Type.MARKET, Order.Type.STOP_MARKET)


def ticks(price: Decimal, ctx: MarketContext) -> int:
    """Exactly (money.OffGrid otherwise: order entry admits only prices on the market's grid)."""
    return money.to_steps(price, ctx.tick_size)


def lots(quantity: Decimal, ctx: MarketContext) -> int:
    return money.to_steps(quantity, ctx.lot_size)


def engine_order(row: OrderRow, ticket: Ticket, ctx: MarketContext) -> EngineOrder:
    """The engine's view of an order row (its ticket rides along as `ref`)."""
    kind = row.type
    funds = None
    if row.side == "buy" and kind in MARKET_BUYS:
        funds = money.whole_steps(ticket.hold_left, ctx.notional_unit)  # what the hold can buy
    tick, lot = ctx.tick_size, ctx.lot_size
    order = EngineOrder(
        id=row.id, user_id=row.user_id, side=row.side, type=kind,
        price=money.to_steps(row.price, tick) if row.price is not None else None,
        quantity=money.to_steps(row.quantity, lot) if row.quantity is not None else None,
        funds=funds, stop_price=money.to_steps(row.stop_price, tick) if row.stop_price is not None else None,
        tif=row.time_in_force, post_only=row.post_only, stp=row.self_trade_prevention,
        timestamp=int(row.created_at.timestamp() * 1000), ref=ticket, triggered=row.triggered,
    )  # fmt: skip
    order.filled = money.to_steps(row.filled_quantity, lot)
    if row.priority is not None:
        order.priority = row.priority
    return order


def book_levels(book: dict, ctx: MarketContext) -> dict[tuple[str, int], int]:
    """A published book (markets.book.snapshot: price and quantity strings) as engine levels,
    {(side, ticks): lots}."""
    levels = {}
    for side, key in (("buy", "bids"), ("sell", "asks")):
        for price, qty in book[key]:
            levels[side, ticks(Decimal(price), ctx)] = lots(Decimal(qty), ctx)
    return levels


def collar_ppm(market: Market) -> int | None:
    c = market.market_order_collar
    return None if c is None else int(c * PPM)


def breaker_config(market: Market) -> BreakerConfig | None:
    if market.breaker_move is None:
        return None
    cooldown = market.breaker_cooldown_seconds
    return BreakerConfig(move_ppm=int(market.breaker_move * PPM), window_ms=market.breaker_window_seconds * 1000,
                         cooldown_ms=None if cooldown is None else cooldown * 1000)  # fmt: skip
