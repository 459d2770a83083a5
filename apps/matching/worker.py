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

This module is the loop; the rest of the matcher by concern: `recovery` (the engine and cursor from
PostgreSQL, the sweep, order rows and tickets), `grid` (prices and quantities in ticks and lots),
`locks` (which process runs a market), `rows` (the named rows handed to settlement and the
publisher), `settlement` (the batch's one transaction), `publish` (cache and channel layer).
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

import psycopg
import redis
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from apps.core import audit
from apps.core.sql import numeric_array
from apps.markets import streams
from apps.markets.models import Market
from apps.matching import grid, metrics, publish
from apps.matching.gate import CIRCUIT_BREAKER
from apps.matching.locks import AdvisoryLocks
from apps.matching.recovery import Recovery, order_rows
from apps.matching.rows import OrderState, StatusChange
from apps.matching.settlement import Batch, write
from apps.orders.models import Order

logger = logging.getLogger(__name__)

GROUP = "matcher"
CONSUMER = "matcher"  # one owner per market (the advisory lock), so one stable consumer name
LAG_READING_SECONDS = 0.5


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
    changes: list[StatusChange] = field(default_factory=list)  # halts and resumes this batch decided


def command_id(fields: dict) -> int | None:
    """The order id of a command, or None for anything that is not one (never an exception: a
    command that raised every time would stop the market)."""
    raw = fields.get("id", "")
    if isinstance(raw, str) and raw.isascii() and raw.isdigit() and len(raw) < 19:
        return int(raw)
    return None


def stream_id_tuple(entry_id: str) -> tuple[int, int]:
    ms, _, seq = entry_id.partition("-")
    return int(ms), int(seq or 0)


class MarketRunner(Recovery):
    """One market this process owns: its engine, cursor and gate (rebuilt by `recover`), the
    batches applied to them (`prepare`) and their settlement (`commit`)."""

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

    def ensure_group(self) -> None:
        try:
            self.redis.xgroup_create(self.key, GROUP, id="0", mkstream=True)
        except redis.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    def resume_if_due(self, now_ms: float, now: float) -> None:
        """A breaker halt whose cool-down is over ends at the next command; with none coming (order entry
        lets orders in again at that moment, but there may be none), send one: `resume` by cool-down,
        applied in stream order like any command. Sent again each second until applied."""
        gate = self.gate
        if (gate.reason == CIRCUIT_BREAKER and gate.until_ms is not None and now_ms >= gate.until_ms
                and now - self.resume_sent_at >= 1.0):  # fmt: skip
            self.redis.xadd(self.key, {"op": "resume", "id": 0, "by": "cooldown"})
            self.resume_sent_at = now

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
            rows = order_rows("o.id = ANY(%s::bigint[]) AND o.market_id = %s",
                              [numeric_array(new_ids), self.market.pk])  # fmt: skip
            rows = {row.id: row for row in rows}
            self.load_accounts(rows.values())
            batch = Batch(ctx=self.ctx, now=timezone.now())
            engine, fills, engine_get, gate = self.engine, [], self.engine.get, self.gate
            for _eid, fields, at in fresh:
                op, order_id = fields.get("op"), command_id(fields)
                if order_id is None:
                    logger.error("%s: malformed command %r skipped", self.ctx.symbol, fields)
                    continue
                if op == "new":
                    row = rows.pop(order_id, None)  # a second `new` for the same id in this batch: gone
                    if row is None or row.applied or row.status not in Order.OPEN:
                        continue
                    if order_id in self.uncommitted or engine_get(order_id) is not None:
                        continue  # applied by a batch still committing: its row does not say so yet
                    ticket = self.ticket(row)
                    batch.touch(ticket)
                    if row.cancel_requested_at is not None:
                        batch.finish(ticket, Order.Status.CANCELLED, "cancelled")
                        continue
                    if not gate.admits(at):
                        batch.finish(ticket, Order.Status.REJECTED, "market_halted")
                        continue
                    try:
                        engine_order = grid.engine_order(row, ticket, self.ctx)
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
            orders=[OrderState(t, t.filled_quantity, t.filled_quote, t.fee, t.status, t.reason)
                    for t in batch.dirty.values()],
            status=changes,
        )  # fmt: skip
        return prepared

    @staticmethod
    def _change(status: str, reason: str, until_ms: int | None, at_ms: int, source: str) -> StatusChange:
        """A halt or resume decided by the gate (its times in milliseconds), as settlement writes it and
        subscribers see it."""
        until = None if until_ms is None else datetime.fromtimestamp(until_ms / 1000, tz=UTC)
        at = datetime.fromtimestamp(at_ms / 1000, tz=UTC)
        return StatusChange(status=status, reason=reason, until=until, at=at, breaker=source != "staff")

    def commit(self, prepared: Prepared) -> None:
        """Write a prepared batch in one transaction (called by the committer thread, in order)."""
        batch, update = prepared.batch, prepared.update
        with transaction.atomic(), connection.cursor() as cursor:
            trade_ids, balances = write(cursor, batch, state=prepared.state, changes=prepared.changes)
            for change in prepared.changes:
                if change.breaker:
                    action = "market.circuit_breaker" if change.status == "halted" else "market.breaker_ended"
                    until = change.until and change.until.isoformat()
                    audit.record(actor=None, action=action, target=self.market, reason=change.reason,
                                 at=change.at.isoformat(), until=until)  # fmt: skip
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


class Committer:
    """Commits batches on a thread and a connection of its own, in order, while the loop reads and
    prepares the next one: PostgreSQL's work overlaps Python's. (apps.matching.testing has one that
    commits on the caller's thread and connection instead.)"""

    def __init__(self):
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="matcher-commit")

    def submit(self, fn, *args) -> Future:
        return self.executor.submit(fn, *args)

    @staticmethod
    def discard_connection() -> None:
        """After a failure, in the thread that met it: do not reuse a connection in an unknown state."""
        connection.close()

    def close(self) -> None:
        # The committer thread's own connection (looked up in that thread: `connection` is per thread).
        self.executor.submit(lambda: connection.close()).result()
        self.executor.shutdown()


class Matcher:
    def __init__(self, symbols: list[str] | None = None, *, batch_size: int | None = None, block_ms: int | None = None,
                 committer: Committer | None = None, locks: AdvisoryLocks | None = None):  # fmt: skip
        self.symbols = [s.upper() for s in symbols] if symbols else None
        self.batch_size = batch_size or settings.MATCHER_BATCH_SIZE
        self.block_ms = block_ms if block_ms is not None else settings.MATCHER_BLOCK_MS
        self.redis = redis.Redis.from_url(settings.REDIS_URL, decode_responses=True, socket_connect_timeout=2,
                                          socket_timeout=max(5, self.block_ms / 1000 + 3))  # fmt: skip
        self.locks = locks or AdvisoryLocks()
        self.runners: dict[str, MarketRunner] = {}
        self.publisher = publish.Publisher(self.redis)
        # Batches are committed in order, at most one in flight while the next one is prepared.
        self.committer = committer or Committer()
        self.in_flight: Future | None = None
        self.stopping = False
        # A batch allocates hundreds of thousands of short-lived containers: collect the young generation
        # every 20,000 allocations instead of 700, the older ones rarely (see recovery.freeze_heap).
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
        self.committer.close()
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
            self.committer.discard_connection()
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
        self.committer.discard_connection()  # this thread's
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
