"""A market's matcher state from PostgreSQL (ARCHITECTURE.md, The life of an order, step 4).

PostgreSQL is the only truth: `recover` rebuilds the engine from the open orders in priority order
and the market's cursor, at start and whenever a batch may not have committed; `sweep` re-sends the
commands that never reached the stream. Orders are read as `OrderRow`s with their holds, in plain
SQL (thousands per batch: no model instances), and become tickets (settlement.Ticket) here, for
recovery and for every batch alike.
"""

from __future__ import annotations

import gc
import logging
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import connection

from apps.core import money
from apps.markets import book as market_book
from apps.markets import streams
from apps.markets.models import Market
from apps.matching import grid
from apps.matching.engine import Engine
from apps.matching.gate import CIRCUIT_BREAKER, Gate
from apps.matching.models import MarketState
from apps.matching.rows import OrderRow
from apps.matching.settlement import MarketContext, Ticket
from apps.orders.models import Order
from apps.wallets import ledger
from apps.wallets.models import Account

logger = logging.getLogger(__name__)

# OrderRow's fields, in order: the order's columns, then its hold's.
ROW_COLUMNS = ", ".join(f"o.{name}" for name in OrderRow._fields[:-2]) + ", h.amount, h.account_id"
OPEN_ORDERS = "o.market_id = %s AND o.status IN ('new', 'partially_filled') AND o.applied ORDER BY o.priority, o.id"


def order_rows(where: str, params: list) -> list[OrderRow]:
    """Orders with their holds (`where` is one of the matcher's constant conditions; values travel
    as parameters)."""
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {ROW_COLUMNS} FROM orders_order o LEFT JOIN wallets_hold h ON h.id = o.hold_id "  # noqa: S608
                       f"WHERE {where}", params)  # fmt: skip
        return list(map(OrderRow._make, cursor.fetchall()))


def market_context(market: Market) -> MarketContext:
    fees_base = ledger.system_account(Account.Kind.FEES, market.base_id)
    fees_quote = ledger.system_account(Account.Kind.FEES, market.quote_id)
    return MarketContext(
        market_id=market.pk, symbol=market.symbol, base=market.base_id, quote=market.quote_id,
        tick_size=market.tick_size, lot_size=market.lot_size,
        base_step=money.unit(market.base.decimals), quote_step=money.unit(market.quote.decimals),
        maker_fee=market.maker_fee, taker_fee=market.taker_fee,
        fee_account_base=fees_base.pk, fee_account_quote=fees_quote.pk,
    )  # fmt: skip


def freeze_heap() -> None:
    """Move what exists now (a rebuilt book: tens of thousands of orders, their tickets and rows) out of
    the cyclic garbage collector's reach. It scanned these long-lived objects again and again while
    batches allocated, and that was a fifth of the matcher's Python time. Nothing here forms a cycle
    that only the collector could free: reference counting still frees a frozen book when it is
    replaced."""
    gc.collect()
    gc.freeze()


class Recovery:
    """The part of a MarketRunner (apps.matching.worker) that reads PostgreSQL: the rebuild, the
    sweep, and the orders and accounts each batch needs."""

    market: Market
    key: str  # the market's order stream
    redis: Any
    gate: Gate
    ctx: MarketContext
    accounts: dict[tuple[int, str], int]
    owners: dict[int, tuple[int, str]]

    def recover(self) -> None:
        """Rebuild the engine from PostgreSQL: the open orders in priority order and the cursor.
        All or nothing: the new engine and cursor replace the old ones only once complete; until a
        rebuild succeeds the runner is `broken` and the matcher applies nothing to it."""
        self.broken = True
        market = Market.objects.select_related("base", "quote").get(pk=self.market.pk)
        MarketState.objects.get_or_create(market=market)
        saved = MarketState.objects.get(market=market)
        state = {
            "last_stream_id": saved.last_stream_id, "book_sequence": saved.book_sequence,
            "last_price": saved.last_price,
            "commands_applied": saved.commands_applied,
        }  # fmt: skip
        self.market, self.ctx = market, market_context(market)
        last = saved.last_price
        engine = Engine(last_price=grid.ticks(last, self.ctx) if last is not None else None,
                        collar_ppm=grid.collar_ppm(market))  # fmt: skip
        self.gate = Gate.load(saved.gate, grid.breaker_config(market))
        self.resume_sent_at = 0.0  # when this process last asked itself to end a breaker halt (monotonic)
        rows = order_rows(OPEN_ORDERS, [market.pk])
        self.load_accounts(rows)
        for row in rows:
            engine.restore(grid.engine_order(row, self.ticket(row), self.ctx))
        pending_levels = self._difference_from_cache(engine.changed_levels())
        self.engine, self.state, self.pending_levels = engine, state, pending_levels
        self.uncommitted = set()
        self.read_pending = True
        self.depth_due = True  # the next update that changes the book carries all of it
        self.broken = False
        freeze_heap()
        logger.info("%s: rebuilt %d open orders at stream id %s", market.symbol, len(rows), saved.last_stream_id)

    def refresh(self, market: Market) -> None:
        """Discovery reads the markets again: fee, collar and breaker changes made in the admin apply
        from the next batch."""
        if (market.maker_fee, market.taker_fee) != (self.ctx.maker_fee, self.ctx.taker_fee):
            self.ctx.maker_fee, self.ctx.taker_fee = market.maker_fee, market.taker_fee
            logger.info("%s: fees now maker %s / taker %s", market.symbol, market.maker_fee, market.taker_fee)
        self.engine.collar_ppm = grid.collar_ppm(market)
        self.gate.config = grid.breaker_config(market)

    def _difference_from_cache(self, rebuilt: dict) -> dict:
        """Subscribers hold the book as last published (the cache). After a rebuild, the next update
        must also carry what differs from it: levels gone while this process was away, and levels
        whose update was committed but never published."""
        book = market_book.snapshot(self.market.symbol, self.redis)
        if book is None:
            return rebuilt
        published = grid.book_levels(book, self.ctx)
        difference = {level: 0 for level in published if level not in rebuilt}
        difference.update({level: total for level, total in rebuilt.items() if published.get(level) != total})
        return difference

    # --- Orders and accounts ---------------------------------------------------------------------------

    def load_accounts(self, rows) -> None:
        """The base and quote accounts of the rows' users, once per user."""
        missing = {row.user_id for row in rows} - {user for user, _ in self.accounts}
        if missing:
            for pk, user, currency in Account.objects.filter(
                kind=Account.Kind.USER, user_id__in=missing, currency_id__in=[self.ctx.base, self.ctx.quote]
            ).values_list("pk", "user_id", "currency_id"):
                self.accounts[(user, currency)] = pk
                self.owners[pk] = (user, currency)

    def ticket(self, row: OrderRow) -> Ticket:
        return Ticket(
            id=row.id, user_id=row.user_id, side=row.side, type=row.type,
            limit_price=row.price if row.side == "buy" and row.price is not None else None,
            hold_id=row.hold_id, hold_left=row.hold_amount or Decimal(0), pay_account=row.hold_account_id,
            base_account=self.accounts[(row.user_id, self.ctx.base)],
            quote_account=self.accounts[(row.user_id, self.ctx.quote)],
            filled_quantity=row.filled_quantity, filled_quote=row.filled_quote, fee=row.fee,
            status=row.status, reason="", priority=row.priority, triggered=row.triggered, row=row,
        )  # fmt: skip

    # --- Commands that never reached the stream ----------------------------------------------------

    def sweep(self) -> int:
        """Re-send `new` commands of orders never applied and cancels never applied, unless they are
        still waiting in the stream. Repeats are harmless (see apps.matching.worker)."""
        if self.redis.xlen(self.key) > settings.MATCHER_BATCH_SIZE:
            return 0  # a backlog: what waits in it is not lost, and reading it all here would be slow
        after = "(" + self.state["last_stream_id"] if self.state["last_stream_id"] != "0-0" else "-"
        waiting: set[tuple[str, int]] = set()
        for _entry_id, fields in self.redis.xrange(self.key, min=after, max="+"):
            waiting.add((fields.get("op", ""), int(fields.get("id", 0) or 0)))
        lost_new = Order.objects.filter(market=self.market, applied=False, status=Order.Status.NEW).values_list(
            "pk", flat=True
        )
        lost_cancel = Order.objects.filter(
            market=self.market, status__in=Order.OPEN, cancel_requested_at__isnull=False
        ).values_list("pk", flat=True)
        commands = [("new", pk) for pk in lost_new.order_by("pk") if ("new", pk) not in waiting]
        commands += [("cancel", pk) for pk in lost_cancel.order_by("pk") if ("cancel", pk) not in waiting]
        sync = None if any(op in ("halt", "resume") for op, _ in waiting) else self._lost_halt_or_resume()
        # A lost resume goes before the lost orders (they were accepted after it committed), a lost
        # halt after them (they were accepted before it committed).
        if sync and sync[0] == "resume":
            self._send_sync(sync)
        if commands:
            streams.send_many(self.market.symbol, commands, client=self.redis)
            logger.warning("%s: re-sent %d commands that never reached the stream", self.market.symbol, len(commands))
        if sync and sync[0] == "halt":
            self._send_sync(sync)
        return len(commands) + (1 if sync else 0)

    def _lost_halt_or_resume(self) -> tuple[str, dict] | None:
        """A staff halt or resume whose command never reached the stream (Redis was down, or the
        transaction that sent a resume did not commit): the command that makes the matcher follow the
        market row again."""
        status, reason = Market.objects.filter(pk=self.market.pk).values_list("status", "status_reason").get()
        if status == Market.Status.HALTED and reason != CIRCUIT_BREAKER and self.gate.reason != (reason or "halted"):
            return "halt", {"reason": reason}
        if status == Market.Status.TRADING and self.gate.reason:
            return "resume", {}
        return None

    def _send_sync(self, sync: tuple[str, dict]) -> None:
        op, extra = sync
        self.redis.xadd(self.key, {"op": op, "id": 0, **extra})
        logger.warning("%s: re-sent a lost %s command", self.market.symbol, op)
