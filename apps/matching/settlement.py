"""Settlement of one batch of engine events in one PostgreSQL transaction (docs/architecture.md "The life
of an order", step 2).

The engine decides; this module turns its events into rows, in memory first, then writes them with
a handful of statements whatever the batch size: trades by COPY; the market's candles by one upsert;
the ledger's postings (transactions, entries and balances) through `apps.wallets.ledger.post_batch`,
the ledger being the one writer of balances, and the orders' holds (`ledger.set_holds`); orders by
one UPDATE ... FROM unnest(...); the market's cursor last, fenced by the number of commands applied
so far so that a matcher that lost its lock cannot commit.

Money rules (docs/api.md "Orders"): a fill's fee is taken from what that side receives (base for the
buyer, quote for the seller) at the maker or taker rate, rounded half-up to the currency's decimals,
and credited to the fee account. A limit buy holds price x quantity at its limit; a fill below the
limit gives the difference back at once, so its remaining hold is always remaining x limit. Whatever
an order still holds when it ends is released in the same transaction.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal

from apps.core.sql import bool_array, numeric_array, text_array
from apps.markets import registry
from apps.markets.models import CANDLE_INTERVALS, CIRCUIT_BREAKER, interval_start
from apps.matching.rows import HoldChange, OrderChange, PendingPosting, StatusChange, TradeRow
from apps.wallets import ledger
from apps.wallets.models import Entry, Transaction

AVAILABLE, LOCKED = Entry.Bucket.AVAILABLE, Entry.Bucket.LOCKED


class SettlementError(Exception):
    """The events would take a hold below zero or the cursor moved under us: nothing is written."""


class Ticket:
    """What settlement knows of one order while it lives in the matcher (EngineOrder.ref)."""

    __slots__ = (
        "base_account",
        "fee",
        "filled_quantity",
        "filled_quote",
        "hold_id",
        "hold_left",
        "id",
        "limit_price",
        "pay_account",
        "priority",
        "quote_account",
        "reason",
        "released",
        "row",
        "side",
        "static",
        "status",
        "triggered",
        "type",
        "user_id",
    )  # fmt: skip

    def __init__(self, **values):
        self.released = False
        self.static = None  # the order's unchanging fields as published, rendered once
        for name, value in values.items():
            setattr(self, name, value)


@dataclass
class MarketContext:
    market_id: int
    symbol: str
    base: str
    quote: str
    tick_size: Decimal
    lot_size: Decimal
    base_step: Decimal
    quote_step: Decimal
    maker_fee: Decimal
    taker_fee: Decimal
    fee_account_base: int
    fee_account_quote: int

    @property
    def notional_unit(self) -> Decimal:
        return self.tick_size * self.lot_size


@dataclass
class Batch:
    """Rows of one settlement, accumulated as events are applied."""

    ctx: MarketContext
    now: datetime
    trades: list[TradeRow] = field(default_factory=list)
    postings: list[PendingPosting] = field(default_factory=list)
    dirty: dict[int, Ticket] = field(default_factory=dict)
    holds_changed: dict[int, Ticket] = field(default_factory=dict)
    order_rows: list[OrderChange] = field(default_factory=list)  # set by freeze()
    hold_rows: list[HoldChange] = field(default_factory=list)
    last_price: Decimal | None = None

    def fill(self, taker: Ticket, maker: Ticket, price_ticks: int, lots: int) -> TradeRow:
        ctx = self.ctx
        qty = ctx.lot_size * lots
        price = ctx.tick_size * price_ticks
        notional = ctx.notional_unit * (price_ticks * lots)
        if taker.side == "buy":
            buyer, seller, buyer_rate, seller_rate = taker, maker, ctx.taker_fee, ctx.maker_fee
        else:
            buyer, seller, buyer_rate, seller_rate = maker, taker, ctx.maker_fee, ctx.taker_fee
        buyer_fee = (qty * buyer_rate).quantize(ctx.base_step, ROUND_HALF_UP)
        seller_fee = (notional * seller_rate).quantize(ctx.quote_step, ROUND_HALF_UP)
        # The buyer's hold pays: at its limit price for limit buys (the difference comes back now).
        consumed = buyer.limit_price * qty if buyer.limit_price is not None else notional
        if consumed > buyer.hold_left or qty > seller.hold_left:
            raise SettlementError(f"hold exhausted: order {buyer.id} or {seller.id}")
        buyer.hold_left -= consumed
        seller.hold_left -= qty
        legs = [(buyer.quote_account, ctx.quote, LOCKED, -consumed)]
        if consumed != notional:
            legs.append((buyer.quote_account, ctx.quote, AVAILABLE, consumed - notional))
        legs.append((seller.quote_account, ctx.quote, AVAILABLE, notional - seller_fee))
        if seller_fee:
            legs.append((ctx.fee_account_quote, ctx.quote, AVAILABLE, seller_fee))
        legs.append((seller.base_account, ctx.base, LOCKED, -qty))
        legs.append((buyer.base_account, ctx.base, AVAILABLE, qty - buyer_fee))
        if buyer_fee:
            legs.append((ctx.fee_account_base, ctx.base, AVAILABLE, buyer_fee))
        trade_index = len(self.trades)
        self.postings.append(PendingPosting(Transaction.Kind.TRADE, "trade", trade_index, legs))
        for ticket, fee in ((buyer, buyer_fee), (seller, seller_fee)):
            ticket.filled_quantity += qty
            ticket.filled_quote += notional
            ticket.fee += fee
            if ticket.status == "new":
                ticket.status = "partially_filled"
            self.dirty[ticket.id] = ticket
            self.holds_changed[ticket.id] = ticket
        row = TradeRow(buyer, seller, taker.side, price, qty, notional, buyer_fee, seller_fee, taker is buyer)
        self.trades.append(row)
        self.last_price = price
        return row

    def finish(self, ticket: Ticket, status: str, reason: str) -> None:
        """The order is final: release what it still holds (idempotent per order by key)."""
        left = ticket.hold_left
        if left > 0:
            legs = [(ticket.pay_account, self._pay_currency(ticket), LOCKED, -left),
                    (ticket.pay_account, self._pay_currency(ticket), AVAILABLE, left)]  # fmt: skip
            key = f"release:order:{ticket.id}"
            self.postings.append(PendingPosting(Transaction.Kind.RELEASE, key, ticket.id, legs))
            ticket.hold_left = Decimal(0)
            ticket.released = True
            self.holds_changed[ticket.id] = ticket
        ticket.status = status
        ticket.reason = reason
        self.dirty[ticket.id] = ticket

    def freeze(self) -> None:
        """Copy what the write needs out of the tickets: the next batch changes them while this one
        is being committed (in another thread)."""
        # Sorted by id: rows are locked in id order, as order entry and cancels lock them.
        self.order_rows = sorted(OrderChange(t.id, t.status, t.reason, t.filled_quantity, t.filled_quote, t.fee,
                                             t.priority, t.triggered) for t in self.dirty.values())  # fmt: skip
        self.hold_rows = sorted(HoldChange(t.hold_id, t.hold_left, _hold_status(t)) for t in self.holds_changed.values()
                                if t.hold_id is not None)  # fmt: skip

    def touch(self, ticket: Ticket) -> None:
        self.dirty[ticket.id] = ticket

    def _pay_currency(self, ticket: Ticket) -> str:
        return self.ctx.quote if ticket.side == "buy" else self.ctx.base


def write(
    cursor, batch: Batch, *, state: dict, changes: list[StatusChange] = ()
) -> tuple[list[int], dict[int, tuple[Decimal, Decimal]]]:
    """Write the batch with the open cursor (inside the caller's transaction). `state` is the new
    market cursor {last_stream_id, book_sequence, last_price, commands_applied, gate (JSON),
    expected_applied}; `changes` the halts and resumes the batch decided (matching.gate): the
    circuit breaker's own ones are written to the market row here, in the same transaction. Returns
    the trade ids (in batch order) and the new balances of the accounts that changed."""
    ctx, now = batch.ctx, batch.now
    # The market row first, before any account: the batch's foreign keys (trades, candles) lock it at
    # commit anyway, and taken last that lock would close a cycle with the kill switch (which holds
    # market rows FOR UPDATE) and an order entry on another market waiting for an account held here.
    # The lock and the ids of the batch's trades in one round trip.
    lock = "FOR NO KEY UPDATE" if any(change.breaker for change in changes) else "FOR KEY SHARE"
    cursor.execute(
        "SELECT ARRAY(SELECT nextval('trades_trade_id_seq') FROM generate_series(1, %s)) "  # noqa: S608
        f"FROM markets_market WHERE id = %s {lock}",
        [len(batch.trades), ctx.market_id],
    )
    (trade_ids,) = cursor.fetchone()
    if batch.trades:
        with cursor.copy(
            "COPY trades_trade (id, market_id, price, quantity, quote_quantity, taker_side, buy_order_id, "
            "sell_order_id, buyer_id, seller_id, buyer_fee, seller_fee, created_at) FROM STDIN"
        ) as copy:
            for trade_id, t in zip(trade_ids, batch.trades, strict=True):
                buyer, seller = t.buyer, t.seller
                copy.write_row((trade_id, ctx.market_id, t.price, t.quantity, t.notional, t.taker_side, buyer.id,
                                seller.id, buyer.user_id, seller.user_id, t.buyer_fee, t.seller_fee, now))  # fmt: skip
        _upsert_candles(cursor, batch)
    # The ledger writes the postings, their entries and the balances (apps.wallets.ledger.post_batch).
    postings = []
    for p in batch.postings:
        if p.key == "trade":
            trade_id = str(trade_ids[p.ref])
            postings.append(ledger.Posting(p.kind, f"trade:{trade_id}", "trade", trade_id, p.legs, ctx.symbol))
        else:
            postings.append(ledger.Posting(p.kind, p.key, "order", str(p.ref), p.legs, ctx.symbol))
    balances = ledger.post_batch(cursor, postings, at=now)
    ledger.set_holds(cursor, batch.hold_rows, at=now)  # what each order still holds, after its postings
    if batch.order_rows:
        rows = batch.order_rows
        cursor.execute(
            "UPDATE orders_order o SET status = d.status, reason = d.reason, filled_quantity = d.filled, "
            "filled_quote = d.quote, fee = d.fee, priority = d.priority, triggered = d.triggered, applied = true, "
            "updated_at = %s "
            "FROM unnest(%s::bigint[], %s::text[], %s::text[], %s::numeric[], %s::numeric[], %s::numeric[], "
            "%s::bigint[], %s::boolean[]) AS d(id, status, reason, filled, quote, fee, priority, triggered) "
            "WHERE o.id = d.id",
            [now, *(numeric_array(r.id for r in rows), text_array(r.status for r in rows),
                    text_array(r.reason for r in rows), numeric_array(r.filled_quantity for r in rows),
                    numeric_array(r.filled_quote for r in rows), numeric_array(r.fee for r in rows),
                    numeric_array(r.priority for r in rows), bool_array(r.triggered for r in rows))],
        )  # fmt: skip
    for change in changes:
        if not change.breaker:
            continue
        registry.changed()  # the market row is written with SQL here: no signal tells the registry
        if change.status == "halted":  # unless staff halted it meanwhile: their halt stands
            cursor.execute("UPDATE markets_market SET status = 'halted', status_reason = %s, halted_until = %s, "
                           "updated_at = %s WHERE id = %s AND status = 'trading'",
                           [change.reason, change.until, now, ctx.market_id])  # fmt: skip
        else:  # the cool-down ended: only the breaker's own halt ends with it
            cursor.execute("UPDATE markets_market SET status = 'trading', status_reason = '', halted_until = NULL, "
                           "updated_at = %s WHERE id = %s AND status = 'halted' AND status_reason = %s",
                           [now, ctx.market_id, CIRCUIT_BREAKER])  # fmt: skip
    cursor.execute(
        "UPDATE matching_marketstate SET last_stream_id = %s, book_sequence = %s, last_price = %s, "
        "commands_applied = %s, gate = %s::jsonb, updated_at = %s WHERE market_id = %s AND commands_applied = %s",
        [state["last_stream_id"], state["book_sequence"], state["last_price"], state["commands_applied"],
         state["gate"], now, ctx.market_id, state["expected_applied"]],
    )  # fmt: skip
    if cursor.rowcount != 1:
        raise SettlementError(f"{ctx.symbol}: the market's cursor moved under this matcher (lost its lock?)")
    return trade_ids, balances


# Every trade of a batch is stamped batch.now, so a batch adds to exactly one candle per interval.
_CANDLE_UPSERT = (
    'INSERT INTO markets_candle (market_id, "interval", open_time, open, high, low, close, volume, quote_volume, '
    "trades) SELECT %s, i.name, i.open_time, %s::numeric, %s::numeric, %s::numeric, %s::numeric, %s::numeric, "
    "%s::numeric, %s FROM unnest(%s::text[], %s::timestamptz[]) AS i(name, open_time) "
    'ON CONFLICT (market_id, "interval", open_time) DO UPDATE SET '
    "high = GREATEST(markets_candle.high, EXCLUDED.high), low = LEAST(markets_candle.low, EXCLUDED.low), "
    "close = EXCLUDED.close, volume = markets_candle.volume + EXCLUDED.volume, "
    "quote_volume = markets_candle.quote_volume + EXCLUDED.quote_volume, "
    "trades = markets_candle.trades + EXCLUDED.trades"
)


def _upsert_candles(cursor, batch: Batch) -> None:
    """Fold the batch's trades into the candle of every interval, in one statement and in the
    trades' transaction: candles are exactly the trades' aggregate whatever crashes. `open` stays
    the first trade's price when the candle exists; `close` becomes this batch's last."""
    trades = batch.trades
    prices = [t.price for t in trades]
    volume = sum((t.quantity for t in trades), Decimal(0))
    quote_volume = sum((t.notional for t in trades), Decimal(0))
    cursor.execute(
        _CANDLE_UPSERT,
        [batch.ctx.market_id, prices[0], max(prices), min(prices), prices[-1], volume, quote_volume, len(trades),
         list(CANDLE_INTERVALS), [interval_start(batch.now, interval) for interval in CANDLE_INTERVALS]],
    )  # fmt: skip


def _hold_status(ticket: Ticket) -> str:
    if ticket.hold_left > 0:
        return "active"
    return "released" if ticket.released else "consumed"
