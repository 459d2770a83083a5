"""The matcher process (docs/architecture.md "The life of an order", steps 2 to 4).

One `MarketRunner` per market this process owns (a PostgreSQL advisory lock per market, held on a
connection of its own, so two matchers never run one market and several split the markets). The
loop reads every owned stream with one XREADGROUP; each market's batch is applied to its in-memory
engine and settled in one transaction together with the market's cursor (last applied stream id,
book sequence); then the entries are acknowledged, the book cache is written and the events are
published to the channel layer.

Crash safety: PostgreSQL is the only truth. The engine is rebuilt from the open orders; a command
is applied at most once because the batch that applies it also marks its order applied (a repeated
`new` or a `cancel` of a final order changes nothing) and moves the cursor; a batch whose commit
fails is thrown away with the engine, which is rebuilt before the pending entries are read again.
Commands that never reached Redis (it was down, or lost them) are re-sent by `sweep`.
"""

from __future__ import annotations

import gc
import json
import logging
import signal
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal

import psycopg
import redis
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from apps.core import audit, money
from apps.core.sql import numeric_array
from apps.markets import book as market_book
from apps.markets import streams
from apps.markets.models import Market
from apps.matching import metrics, publish
from apps.matching.engine import PPM, Engine, EngineOrder
from apps.matching.gate import CIRCUIT_BREAKER, BreakerConfig, Gate
from apps.matching.models import MarketState
from apps.matching.settlement import Batch, MarketContext, Ticket, write
from apps.orders.models import Order
from apps.wallets import ledger
from apps.wallets.models import Account

logger = logging.getLogger(__name__)

ROW_FIELDS = (
    "id", "user_id", "side", "type", "price", "stop_price", "quantity", "quote_quantity", "time_in_force", "post_only",
    "self_trade_prevention", "status", "applied", "triggered", "priority", "cancel_requested_at", "filled_quantity",
    "filled_quote", "fee", "created_at", "hold_id", "client_order_id", "hold__amount", "hold__account_id",
)  # fmt: skip
ROW_COLUMNS = ", ".join(f"o.{name}" for name in ROW_FIELDS[:-2]) + ", h.amount, h.account_id"

GROUP = "matcher"
CONSUMER = "matcher"  # one owner per market (the advisory lock), so one stable consumer name
LAG_READING_SECONDS = 0.5
LOCK_NAMESPACE = 0x4D41  # "MA": first key of pg_try_advisory_lock(int, int); the second is the market id


@dataclass
class Prepared:
    """A batch applied to the engine and ready to be written."""

    runner: MarketRunner
    ack: list[str]
    started: float
    batch: Batch | None = None
    state: dict = field(default_factory=dict)
    applied: set[int] = field(default_factory=set)
    fills: int = 0
    commands: int = 0
    update: publish.Update | None = None
    changes: list[dict] = field(default_factory=list)  # halts and resumes this batch decided


def command_id(fields: dict) -> int | None:
    """The order id of a command, or None for anything that is not one (never an exception: a
    command that raised every time would stop the market)."""
    raw = fields.get("id", "")
    if isinstance(raw, str) and raw.isascii() and raw.isdigit() and len(raw) < 19:
        return int(raw)
    return None


def freeze_heap() -> None:
    """Move what exists now (a rebuilt book: tens of thousands of orders, their tickets and rows) out of
    the cyclic garbage collector's reach. It scanned these long-lived objects again and again while
    batches allocated, and that was a fifth of the matcher's Python time. Nothing here forms a cycle
    that only the collector could free: reference counting still frees a frozen book when it is
    replaced."""
    gc.collect()
    gc.freeze()


def collar_ppm(market: Market) -> int | None:
    c = market.market_order_collar
    return None if c is None else int(c * PPM)


def breaker_config(market: Market) -> BreakerConfig | None:
    if market.breaker_move is None:
        return None
    cooldown = market.breaker_cooldown_seconds
    return BreakerConfig(move_ppm=int(market.breaker_move * PPM), window_ms=market.breaker_window_seconds * 1000,
                         cooldown_ms=None if cooldown is None else cooldown * 1000)  # fmt: skip


def stream_id_tuple(entry_id: str) -> tuple[int, int]:
    ms, _, seq = entry_id.partition("-")
    return int(ms), int(seq or 0)


class MarketRunner:
    def __init__(self, market: Market, client: redis.Redis, wants_depth: set[int] | None = None):
        self.market = market
        self.redis = client
        self.wants_depth = wants_depth if wants_depth is not None else set()  # Publisher.wants_depth
        self.key = streams.stream_key(market.symbol)
        self.read_pending = True  # after (re)start, first the entries delivered but never acknowledged
        self.accounts: dict[tuple[int, str], int] = {}  # (user, currency) -> account id
        self.owners: dict[int, tuple[int, str]] = {}  # account id -> (user, currency)
        self.uncommitted: set[int] = set()  # orders applied by prepared batches not committed yet
        self.recover()

    # --- Recovery ------------------------------------------------------------------------------------

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
        self.market, self.ctx = market, self._context(market)
        last = saved.last_price
        engine = Engine(last_price=self.ticks(last) if last is not None else None, collar_ppm=collar_ppm(market))
        self.gate = Gate.load(saved.gate, breaker_config(market))
        self.resume_sent_at = 0.0  # when this process last asked itself to end a breaker halt (monotonic)
        rows = self._order_rows("o.market_id = %s AND o.status IN ('new', 'partially_filled') AND o.applied "
                                "ORDER BY o.priority, o.id", [market.pk])  # fmt: skip
        self._load_accounts(rows)
        for row in rows:
            engine.restore(self.engine_order(row, self.ticket(row)))
        pending_levels = self._difference_from_cache(engine.changed_levels())
        self.engine, self.state, self.pending_levels = engine, state, pending_levels
        self.uncommitted = set()
        self.read_pending = True
        self.depth_due = True  # the next update that changes the book carries all of it
        self.broken = False
        freeze_heap()
        logger.info("%s: rebuilt %d open orders at stream id %s", market.symbol, len(rows), saved.last_stream_id)

    def _context(self, market: Market) -> MarketContext:
        fees_base = ledger.system_account(Account.Kind.FEES, market.base_id)
        fees_quote = ledger.system_account(Account.Kind.FEES, market.quote_id)
        return MarketContext(
            market_id=market.pk, symbol=market.symbol, base=market.base_id, quote=market.quote_id,
            tick_size=market.tick_size, lot_size=market.lot_size,
            base_step=money.unit(market.base.decimals), quote_step=money.unit(market.quote.decimals),
            maker_fee=market.maker_fee, taker_fee=market.taker_fee,
            fee_account_base=fees_base.pk, fee_account_quote=fees_quote.pk,
        )  # fmt: skip

    def refresh(self, market: Market) -> None:
        """Discovery reads the markets again: fee, collar and breaker changes made in the admin apply
        from the next batch."""
        if (market.maker_fee, market.taker_fee) != (self.ctx.maker_fee, self.ctx.taker_fee):
            self.ctx.maker_fee, self.ctx.taker_fee = market.maker_fee, market.taker_fee
            logger.info("%s: fees now maker %s / taker %s", market.symbol, market.maker_fee, market.taker_fee)
        self.engine.collar_ppm = collar_ppm(market)
        self.gate.config = breaker_config(market)

    def _difference_from_cache(self, rebuilt: dict) -> dict:
        """Subscribers hold the book as last published (the cache). After a rebuild, the next update
        must also carry what differs from it: levels gone while this process was away, and levels
        whose update was committed but never published."""
        book = market_book.snapshot(self.market.symbol, self.redis)
        if book is None:
            return rebuilt
        published = {}
        for side, key in (("buy", "bids"), ("sell", "asks")):
            for price, qty in book[key]:
                published[side, self.ticks(Decimal(price))] = self.lots(Decimal(qty))
        difference = {level: 0 for level in published if level not in rebuilt}
        difference.update({level: total for level, total in rebuilt.items() if published.get(level) != total})
        return difference

    def ensure_group(self) -> None:
        try:
            self.redis.xgroup_create(self.key, GROUP, id="0", mkstream=True)
        except redis.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    def sweep(self) -> int:
        """Re-send `new` commands of orders never applied and cancels never applied, unless they are
        still waiting in the stream. Repeats are harmless (see module docstring)."""
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

    def resume_if_due(self, now_ms: float, now: float) -> None:
        """A breaker halt whose cool-down is over ends at the next command; with none coming (order entry
        lets orders in again at that moment, but there may be none), send one: `resume` by cool-down,
        applied in stream order like any command. Sent again each second until applied."""
        gate = self.gate
        if (gate.reason == CIRCUIT_BREAKER and gate.until_ms is not None and now_ms >= gate.until_ms
                and now - self.resume_sent_at >= 1.0):  # fmt: skip
            self.redis.xadd(self.key, {"op": "resume", "id": 0, "by": "cooldown"})
            self.resume_sent_at = now

    # --- Conversions -------------------------------------------------------------------------------------

    def ticks(self, price: Decimal) -> int:
        """Exactly (money.OffGrid otherwise: order entry admits only prices on the market's grid)."""
        return money.to_steps(price, self.ctx.tick_size)

    def lots(self, quantity: Decimal) -> int:
        return money.to_steps(quantity, self.ctx.lot_size)

    @staticmethod
    def _order_rows(where: str, params: list) -> list[dict]:
        """Orders with their holds, as dicts (plain SQL: thousands per batch, no model instances)."""
        with connection.cursor() as cursor:
            # `where` is one of this module's constant conditions; values travel as parameters.
            cursor.execute(f"SELECT {ROW_COLUMNS} FROM orders_order o LEFT JOIN wallets_hold h ON h.id = o.hold_id "  # noqa: S608
                           f"WHERE {where}", params)  # fmt: skip
            return [dict(zip(ROW_FIELDS, row, strict=True)) for row in cursor.fetchall()]

    def _load_accounts(self, rows) -> None:
        missing = {row["user_id"] for row in rows} - {user for user, _ in self.accounts}
        if missing:
            for pk, user, currency in Account.objects.filter(
                kind=Account.Kind.USER, user_id__in=missing, currency_id__in=[self.ctx.base, self.ctx.quote]
            ).values_list("pk", "user_id", "currency_id"):
                self.accounts[(user, currency)] = pk
                self.owners[pk] = (user, currency)

    def ticket(self, row) -> Ticket:
        return Ticket(
            id=row["id"], user_id=row["user_id"], side=row["side"], type=row["type"],
            limit_price=row["price"] if row["side"] == "buy" and row["price"] is not None else None,
            hold_id=row["hold_id"], hold_left=row["hold__amount"] or Decimal(0), pay_account=row["hold__account_id"],
            base_account=self.accounts[(row["user_id"], self.ctx.base)],
            quote_account=self.accounts[(row["user_id"], self.ctx.quote)],
            filled_quantity=row["filled_quantity"], filled_quote=row["filled_quote"], fee=row["fee"],
            status=row["status"], reason="", priority=row["priority"], triggered=row["triggered"], row=row,
        )  # fmt: skip

    def engine_order(self, row, ticket: Ticket) -> EngineOrder:
        kind = row["type"]
        funds = None
        if row["side"] == "buy" and kind in (Order.Type.MARKET, Order.Type.STOP_MARKET):
            funds = money.whole_steps(ticket.hold_left, self.ctx.notional_unit)  # what the hold can buy
        order = EngineOrder(
            id=row["id"], user_id=row["user_id"], side=row["side"], type=kind,
            price=self.ticks(row["price"]) if row["price"] is not None else None,
            quantity=self.lots(row["quantity"]) if row["quantity"] is not None else None,
            funds=funds, stop_price=self.ticks(row["stop_price"]) if row["stop_price"] is not None else None,
            tif=row["time_in_force"], post_only=row["post_only"], stp=row["self_trade_prevention"],
            timestamp=int(row["created_at"].timestamp() * 1000), ref=ticket, triggered=row["triggered"],
        )  # fmt: skip
        order.filled = self.lots(row["filled_quantity"])
        if row["priority"] is not None:
            order.priority = row["priority"]
        return order

    # --- One batch ---------------------------------------------------------------------------------------

    def prepare(self, entries: list[tuple[str, dict]]) -> Prepared:
        """Apply a batch to the engine and build everything its settlement writes, without writing.
        The cursor moves on in memory at once (the next batch is prepared while this one commits);
        if the commit fails, the matcher rebuilds the engine and the cursor from PostgreSQL. The
        update carries the whole book when the engine was rebuilt or the publisher lost its copy
        (`wants_depth`), else only the levels that changed."""
        started = time.perf_counter()
        last_applied = stream_id_tuple(self.state["last_stream_id"])
        # A pending entry trimmed away comes back without fields: nothing to apply, only to acknowledge.
        # (id, fields, the command's time: the millisecond part of its stream id, see apps.matching.gate)
        fresh = [(eid, f, at[0]) for eid, f in entries if f and (at := stream_id_tuple(eid)) > last_applied]
        prepared = Prepared(runner=self, ack=[eid for eid, _ in entries], started=started)
        if not fresh:
            return prepared
        new_ids = [order_id for _, f, _ in fresh if f.get("op") == "new" and (order_id := command_id(f)) is not None]
        try:
            rows = self._order_rows("o.id = ANY(%s::bigint[]) AND o.market_id = %s",
                                    [numeric_array(new_ids), self.market.pk])  # fmt: skip
            rows = {row["id"]: row for row in rows}
            self._load_accounts(rows.values())
            batch = Batch(ctx=self.ctx, now=timezone.now())
            engine, fills, engine_get, gate = self.engine, [], self.engine.get, self.gate
            for _eid, fields, at in fresh:
                op, order_id = fields.get("op"), command_id(fields)
                if order_id is None:
                    logger.error("%s: malformed command %r skipped", self.ctx.symbol, fields)
                    continue
                if op == "new":
                    row = rows.pop(order_id, None)  # a second `new` for the same id in this batch: gone
                    if row is None or row["applied"] or row["status"] not in Order.OPEN:
                        continue
                    if order_id in self.uncommitted or engine_get(order_id) is not None:
                        continue  # applied by a batch still committing: its row does not say so yet
                    ticket = self.ticket(row)
                    batch.touch(ticket)
                    if row["cancel_requested_at"] is not None:
                        batch.finish(ticket, Order.Status.CANCELLED, "cancelled")
                        continue
                    if not gate.admits(at):
                        batch.finish(ticket, Order.Status.REJECTED, "market_halted")
                        continue
                    try:
                        engine_order = self.engine_order(row, ticket)
                    except ValueError:  # the engine refuses it (place_order should have): never retry it forever
                        logger.exception("%s: order %s cannot be matched; rejected", self.ctx.symbol, order_id)
                        batch.finish(ticket, Order.Status.REJECTED, "invalid")
                        continue
                    engine.submit(engine_order)
                    events = engine.drain_events()
                    self._settle_events(events, batch, fills)
                    if gate.config is not None:
                        gate.trades(at, [event[3] for event in events if event[0] == "fill"])
                    continue
                elif op == "cancel":
                    if not engine.cancel(order_id):
                        continue
                elif op == "halt":
                    gate.halt(fields.get("reason", ""), at)
                    continue
                elif op == "resume":
                    gate.resume(at, cooldown=fields.get("by") == "cooldown")
                    continue
                else:
                    logger.error("%s: unknown command %r skipped", self.ctx.symbol, fields)
                    continue
                self._settle_events(engine.drain_events(), batch, fills)
            levels = {**self.pending_levels, **engine.changed_levels()}
            state = dict(self.state)
            state["expected_applied"] = self.state["commands_applied"]
            state["commands_applied"] += len(fresh)
            state["last_stream_id"] = fresh[-1][0]
            if levels:
                state["book_sequence"] += 1
            if batch.last_price is not None:
                state["last_price"] = batch.last_price
            changes = [self._change(*change) for change in gate.drain_changes()]
            state["gate"] = json.dumps(gate.dump())
            batch.freeze()
        except Exception:
            self.broken = True  # the engine holds part of this batch: the matcher rebuilds it
            raise
        self.state = {k: v for k, v in state.items() if k != "expected_applied"}
        self.pending_levels = {}
        send_depth = bool(levels) and (self.depth_due or self.ctx.market_id in self.wants_depth)
        if send_depth:
            self.depth_due = False
        applied = set(batch.dirty)
        self.uncommitted |= applied
        prepared.batch, prepared.state, prepared.applied, prepared.fills = batch, state, applied, len(fills)
        prepared.commands, prepared.changes = len(fresh), changes
        # The publisher renders later, while the next batches change these tickets: their state now.
        prepared.update = publish.Update(
            ctx=self.ctx, market=self.market, sequence=state["book_sequence"] if levels else None, levels=levels,
            depth=engine.depth() if send_depth else None, trades=[], now=batch.now, balances={}, owners={},
            orders=[(t, t.filled_quantity, t.filled_quote, t.fee, t.status, t.reason) for t in batch.dirty.values()],
            status=changes,
        )  # fmt: skip
        return prepared

    @staticmethod
    def _change(status: str, reason: str, until_ms: int | None, at_ms: int, source: str) -> dict:
        """A halt or resume decided by the gate, as settlement writes it and subscribers see it. The
        matcher writes the market's status only for the breaker's own decisions: staff halts and
        resumes were written by the staff action that sent the command."""
        until = None if until_ms is None else datetime.fromtimestamp(until_ms / 1000, tz=UTC)
        return {"status": status, "reason": reason, "until": until, "at": datetime.fromtimestamp(at_ms / 1000, tz=UTC),
                "breaker": source != "staff"}  # fmt: skip

    def commit(self, prepared: Prepared) -> None:
        """Write a prepared batch in one transaction (called by the committer thread, in order)."""
        batch, update = prepared.batch, prepared.update
        with transaction.atomic(), connection.cursor() as cursor:
            trade_ids, balances = write(cursor, batch, state=prepared.state, changes=prepared.changes)
            for change in prepared.changes:
                if change["breaker"]:
                    action = "market.circuit_breaker" if change["status"] == "halted" else "market.breaker_ended"
                    until = change["until"] and change["until"].isoformat()
                    audit.record(actor=None, action=action, target=self.market, reason=change["reason"],
                                 at=change["at"].isoformat(), until=until)  # fmt: skip
        update.trades = list(zip(trade_ids, batch.trades, strict=True))
        update.balances = balances
        update.owners = {a: self.owners[a] for a in balances if a in self.owners}
        update.committed_at = timezone.now()
        self.uncommitted -= prepared.applied
        metrics.record_batch(self.ctx.symbol, prepared.commands, prepared.fills, time.perf_counter() - prepared.started)

    def _settle_events(self, events, batch: Batch, fills: list) -> None:
        for event in events:
            kind = event[0]
            if kind == "fill":
                fills.append(batch.fill(event[1].ref, event[2].ref, event[3], event[4]))
            elif kind == "done":
                batch.finish(event[1].ref, event[2], event[3])
            elif kind in ("rest", "arm"):
                ticket = event[1].ref
                ticket.priority = event[1].priority
                batch.touch(ticket)
            elif kind == "trigger":
                ticket = event[1].ref
                ticket.triggered = True
                batch.touch(ticket)


class AdvisoryLocks:
    """Per-market advisory locks on a dedicated connection: losing the connection loses every lock,
    which the matcher notices (`alive`) and answers by dropping its markets."""

    def __init__(self):
        db = settings.DATABASES["default"]
        self.params = {"host": db["HOST"], "port": db["PORT"] or None, "dbname": db["NAME"], "user": db["USER"],
                       "password": db["PASSWORD"] or None, "autocommit": True}  # fmt: skip
        self.conn = None

    def connect(self) -> None:
        self.close()
        self.conn = psycopg.connect(**{k: v for k, v in self.params.items() if v is not None})

    def try_lock(self, market_id: int) -> bool:
        return bool(self.conn.execute("SELECT pg_try_advisory_lock(%s, %s)", [LOCK_NAMESPACE, market_id]).fetchone()[0])

    def unlock(self, market_id: int) -> None:
        self.conn.execute("SELECT pg_advisory_unlock(%s, %s)", [LOCK_NAMESPACE, market_id])

    def alive(self) -> bool:
        try:
            self.conn.execute("SELECT 1")
            return True
        except psycopg.Error:
            return False

    def close(self) -> None:
        if self.conn is not None:
            try:
                self.conn.close()
            finally:
                self.conn = None


class Matcher:
    def __init__(self, symbols: list[str] | None = None, *, batch_size: int | None = None, block_ms: int | None = None):
        self.symbols = [s.upper() for s in symbols] if symbols else None
        self.batch_size = batch_size or settings.MATCHER_BATCH_SIZE
        self.block_ms = block_ms if block_ms is not None else settings.MATCHER_BLOCK_MS
        self.redis = redis.Redis.from_url(settings.REDIS_URL, decode_responses=True, socket_connect_timeout=2,
                                          socket_timeout=max(5, self.block_ms / 1000 + 3))  # fmt: skip
        self.locks = AdvisoryLocks()
        self.runners: dict[str, MarketRunner] = {}
        self.publisher = publish.Publisher(self.redis)
        # Batches are committed by one thread of their own, in order, while the main thread reads and
        # prepares the next one: PostgreSQL's work overlaps Python's. At most one batch is in flight.
        self.committer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="matcher-commit")
        self.in_flight: Future | None = None
        self.stopping = False
        # A batch allocates hundreds of thousands of short-lived containers: collect the young generation
        # every 20,000 allocations instead of 700, the older ones rarely (see freeze_heap).
        gc.set_threshold(20_000, 20, 20)
        self.next_discovery = 0.0
        self.next_sweep = 0.0
        self.next_lag_reading = 0.0
        self.caught_up = False
        self.last_step_entries = 0
        self.last_step_read_new = False

    def stop(self, *_args) -> None:
        self.stopping = True

    def run(self, *, once: bool = False) -> None:
        signal.signal(signal.SIGTERM, self.stop)
        signal.signal(signal.SIGINT, self.stop)
        self.locks.connect()
        backoff = 0.5
        while not self.stopping:
            try:
                self.step()
                backoff = 0.5
            except (redis.ConnectionError, redis.TimeoutError) as exc:
                logger.warning("Redis unavailable (%s); retrying in %.1fs", exc, backoff)
                self._sleep(backoff)
                backoff = min(backoff * 2, 10)
                self._after_redis_outage()
            except redis.ResponseError as exc:
                if "NOGROUP" not in str(exc):
                    raise
                logger.warning("consumer group lost (Redis restarted without its data?): recreating")
                self._after_redis_outage()
            except Exception:
                logger.exception("batch failed; the engine was rebuilt from PostgreSQL, retrying")
                self._sleep(backoff)
                backoff = min(backoff * 2, 10)
                self._recover_database()
            if once:
                break
        logger.info("matcher stopping after the batch in hand")
        try:
            self.wait()
        except Exception:  # its entries stay pending: the next start applies them
            logger.exception("the last batch did not commit")
        self.close()

    def close(self) -> None:
        """Stop the threads (after their queued work) and give back every connection."""
        self._settle_in_flight()
        self.committer.submit(lambda: connection.close()).result()  # the committer thread's own connection
        self.committer.shutdown()
        self.publisher.close()
        self.locks.close()

    # --- The committer -----------------------------------------------------------------------------------

    def _commit(self, prepared: Prepared) -> None:
        """In the committer thread: write, commit, acknowledge, then hand the events to the publisher."""
        runner = prepared.runner
        try:
            if prepared.batch is not None:
                runner.commit(prepared)
        except Exception:
            connection.close()  # this thread's connection: do not reuse one in an unknown state
            raise
        self.redis.xack(runner.key, GROUP, *prepared.ack)
        if prepared.batch is not None:
            self.redis.xtrim(runner.key, minid=prepared.state["last_stream_id"], approximate=False)
            self.publisher.publish(prepared.update)

    def _submit(self, prepared: Prepared) -> None:
        self.wait()
        self.in_flight = self.committer.submit(self._commit, prepared)

    def wait(self) -> None:
        """Wait for the batch in flight. If it failed, every engine may hold the effects of batches
        that will never commit: rebuild them all from PostgreSQL, then raise."""
        future, self.in_flight = self.in_flight, None
        if future is None:
            return
        try:
            future.result()
        except Exception:
            self._rebuild_all()
            raise

    def flush(self) -> None:
        """Wait until every prepared batch is committed and published (tests, shutdown)."""
        self.wait()
        self.publisher.flush()

    def _settle_in_flight(self) -> None:
        """Let the batch in flight finish either way (its failure is the one being handled)."""
        future, self.in_flight = self.in_flight, None
        if future is not None and future.exception() is not None:
            logger.warning("the batch in flight failed too: %s", future.exception())

    def _rebuild_all(self) -> None:
        self._settle_in_flight()
        for runner in list(self.runners.values()):
            runner.broken = True  # until the rebuild succeeds, nothing is applied to it
            try:
                runner.recover()
            except Exception:  # noqa: BLE001 - the database is still away: run() retries
                logger.warning("%s: rebuild failed, will retry", runner.market.symbol)

    def _sleep(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while not self.stopping and time.monotonic() < end:
            time.sleep(min(0.1, end - time.monotonic()))

    def _after_redis_outage(self) -> None:
        self._rebuild_all()
        for runner in self.runners.values():
            runner.read_pending = True
        self.next_sweep = 0.0
        try:
            for runner in self.runners.values():
                runner.ensure_group()
        except redis.RedisError:
            pass

    def _recover_database(self) -> None:
        self._settle_in_flight()
        connection.close()
        if not self.locks.alive():
            logger.warning("lost the lock connection: giving up every market until the locks are taken again")
            self.runners.clear()
            try:
                self.locks.connect()
            except psycopg.Error:
                return
        self._rebuild_all()

    def discover(self) -> None:
        """Take the lock of every market this process may run and does not run yet."""
        markets = Market.objects.select_related("base", "quote")
        if self.symbols:
            markets = markets.filter(symbol__in=self.symbols)
        for market in markets:
            runner = self.runners.get(streams.stream_key(market.symbol))
            if runner is not None:
                runner.refresh(market)
                continue  # (advisory locks are re-entrant: taking ours again would succeed)
            if not self.locks.try_lock(market.pk):
                continue
            try:
                runner = MarketRunner(market, self.redis, self.publisher.wants_depth)
                runner.ensure_group()
                runner.sweep()
            except Exception:
                self.locks.unlock(market.pk)
                raise
            self.runners[runner.key] = runner
            metrics.MARKETS_OWNED.set(len(self.runners))
            logger.info("matching %s", market.symbol)

    def step(self) -> None:
        now = time.monotonic()
        if now >= self.next_discovery:
            if not self.locks.alive():
                raise psycopg.OperationalError("lock connection lost")
            self.discover()
            self.next_discovery = now + settings.MATCHER_DISCOVERY_SECONDS
        if not self.runners:
            self._sleep(self.block_ms / 1000)
            return
        now_ms = time.time() * 1000
        for runner in self.runners.values():
            if runner.broken:  # its last rebuild failed: nothing is applied to it before one succeeds
                runner.recover()
            runner.resume_if_due(now_ms, now)
        if self.caught_up and now >= self.next_sweep:
            self.wait()  # a batch in flight would look like lost commands
            for runner in self.runners.values():
                runner.sweep()
            self.next_sweep = now + settings.MATCHER_RECOVERY_SECONDS
        streams_to_read = {key: ("0" if r.read_pending else ">") for key, r in self.runners.items()}
        response = self.redis.xreadgroup(GROUP, CONSUMER, streams_to_read, count=self.batch_size,
                                         block=self.block_ms if ">" in streams_to_read.values() else None)  # fmt: skip
        got = {key: entries for key, entries in (response or [])}
        self.last_step_entries = sum(len(entries) for entries in got.values())
        self.last_step_read_new = all(mode == ">" for mode in streams_to_read.values())
        full = False
        for key, runner in self.runners.items():
            entries = got.get(key) or []
            if runner.read_pending and not entries:
                runner.read_pending = False  # the pending entries are done: read new ones from now on
                continue
            if not entries:
                continue
            full = full or len(entries) >= self.batch_size
            try:
                prepared = runner.prepare(entries)
            except Exception:
                self._rebuild_all()  # after the batch in flight: the engine may hold half of this one
                raise
            self._submit(prepared)
        self.caught_up = not full
        if now >= self.next_lag_reading:  # a gauge scraped every few seconds: not a round trip per batch
            metrics.update_lag(self.redis, self.runners)
            self.next_lag_reading = now + LAG_READING_SECONDS
