"""The matching engine: one market's order book, in pure Python (no Django, no clock, no I/O).

Integers only: prices in ticks, quantities in lots, notional in ticks * lots. The caller (the
settlement layer) converts to Decimal, persists and moves balances; it applies commands one at a time
(submit, cancel, restore) and reads the events they append to `events`, tuples holding the orders:
("fill", taker, maker, price, lots), ("rest", order), ("arm", order), ("trigger", order) and
("done", order, status, reason) with status filled, cancelled, expired or rejected.

Rules
- Price-time priority: best price first, then FIFO by `priority`, a counter stamped when an order
  rests or a stop is armed. A fill is at the maker's price.
- A GTC limit's remainder rests; an IOC's expires ("ioc_remainder"), also when nothing filled (the
  whole order is its remainder: docs/api.md "Orders", as Binance). Market orders behave as IOC, but FOK is honoured
  for them too, and one that fills nothing is rejected ("no_liquidity").
- Post-only: rejected ("post_only_would_cross") if the best opposite price crosses its limit.
- FOK: a dry run first counts what would fill (other users' lots only, within the limit and funds);
  short of complete it is rejected ("fok_not_fillable") and nothing at all changes.
- Market buy by funds: at each level take min(level lots, quantity left, funds left // price). A
  funds-only buy is "filled" when its funds cannot buy one lot at the next maker's price; if the book
  runs out first it expires ("ioc_remainder"). With a quantity as well, running out of funds first
  expires it.
- Market-order collar (`collar_ppm`, parts per million, None: off): a market order, a triggered stop
  market included, trades no further than that from the best opposite price when it starts matching
  (a buy up to floor(best ask x (1 + collar)), a sell down to ceil(best bid x (1 - collar))). Its
  remainder expires ("collar"); FOK counts only what lies within the collar.
- Self-trade prevention: two orders of one user never fill each other. On meeting its own resting
  order a taker with stp "cancel_resting" expires that order ("self_trade") and goes on; with
  "cancel_taker" the taker itself expires and matching stops.
- Stops trigger when last_price >= stop_price (buy) or <= stop_price (sell), never while last_price
  is None; one submitted with its condition already met triggers at once (no "arm" event). The check
  runs after every submit: all stops it finds triggered run oldest arm first, each as a new order;
  stops their fills trigger run in a next round, until a round finds none.

Guarantees
- Level totals are exact at all times; cancel is O(1) (the order stays queued, marked, and is dropped
  when it reaches the front of its level).
- "done" is emitted once per order, and a done order appears in no later event.
- The book at rest is never crossed: best_bid() < best_ask().
- Deterministic: only ints and strs are hashed, so the same commands always give the same events.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import KW_ONLY, dataclass
from heapq import heapify, heappop, heappush, nlargest, nsmallest

SIDES = ("buy", "sell")
TYPES = ("limit", "market", "stop_limit", "stop_market")
TIFS = ("gtc", "ioc", "fok")
STPS = ("cancel_resting", "cancel_taker")
UNLIMITED = 1 << 62  # the "quantity left" of a funds-only market buy: its funds are its only cap

# Why a taker's matching stopped (Engine._take).
_EXHAUSTED = 0  # quantity filled, limit price reached or book empty
_NO_FUNDS = 1  # the funds cannot buy one lot at the next maker's price
_SELF_TRADE = 2  # met its own order under cancel_taker


def _is_tick(value: object) -> bool:
    return type(value) is int and value >= 1


@dataclass(slots=True, eq=False, repr=False)
class EngineOrder:
    """An order as the engine sees it: validated once, here, so that the engine can trust it. The engine
    updates `filled`, `spent`, `priority`, `status` and `triggered`; it never reads `ref`."""

    id: int
    user_id: int
    side: str
    type: str
    price: int | None = None
    quantity: int | None = None
    funds: int | None = None
    stop_price: int | None = None
    tif: str = "gtc"
    post_only: bool = False
    stp: str = "cancel_resting"
    timestamp: int = 0
    ref: object = None
    _: KW_ONLY
    filled: int = 0
    spent: int = 0
    priority: int = 0
    status: str = "new"
    triggered: bool = False  # a stop that has triggered (restore() rests it rather than arming it)

    def __post_init__(self) -> None:
        limit_type, stop_type = self.type in ("limit", "stop_limit"), self.type in ("stop_limit", "stop_market")
        if not (self.side in SIDES and self.type in TYPES and self.tif in TIFS and self.stp in STPS):
            problem = "unknown side, type, tif or stp"
        elif not (_is_tick(self.price) if limit_type else self.price is None):
            problem = "a price (>= 1) is for limit types only"
        elif not (_is_tick(self.stop_price) if stop_type else self.stop_price is None):
            problem = "a stop_price (>= 1) is for stop types only"
        elif not (self.funds is None or (self.side == "buy" and not limit_type and _is_tick(self.funds))):
            problem = "funds (>= 1) are for market buys only"
        elif not (_is_tick(self.quantity) or (self.quantity is None and self.funds is not None)):
            problem = "a quantity (>= 1) is required, except for a market buy by funds"
        elif self.post_only and not limit_type:
            problem = "post_only is for limit types only"
        else:
            return
        raise ValueError(f"order {self.id}: {problem}")

    @property
    def remaining(self) -> int | None:
        return None if self.quantity is None else self.quantity - self.filled

    def __repr__(self) -> str:
        return f"<EngineOrder {self.id} {self.side} {self.type} {self.quantity}@{self.price} {self.status}>"


class Level(deque):
    """One price level: its orders in time priority, the exact sum of their remaining lots (`total`)
    and the number of cancelled orders still queued (`dead`)."""

    __slots__ = ("dead", "price", "total")


PPM = 1_000_000


class Engine:
    def __init__(self, last_price: int | None = None, collar_ppm: int | None = None):
        self.last_price = last_price
        self.collar_ppm = collar_ppm  # market-order collar; the caller may change it between commands
        self.events: list[tuple] = []
        # Levels by price, and heaps of their keys for the best prices: asks by price, bids by -price.
        # A heap's top is always a live level; keys below it may be stale (levels since removed): they
        # are popped when they surface, or dropped when the heap is rebuilt.
        self._bids: dict[int, Level] = {}
        self._asks: dict[int, Level] = {}
        self._bid_heap: list[int] = []
        self._ask_heap: list[int] = []
        # Armed stops as (stop_price, priority, order), sells by -stop_price. Cancelled ones stay until
        # popped or rebuilt away.
        self._buy_stops: list[tuple[int, int, EngineOrder]] = []
        self._sell_stops: list[tuple[int, int, EngineOrder]] = []
        self._dead_stops = 0
        self._orders: dict[int, EngineOrder] = {}  # open orders: resting and armed
        self._seq = 0  # the last priority given out
        # Levels touched since changed_levels(), and the totals it last reported.
        self._touched_bids: dict[int, Level] = {}
        self._touched_asks: dict[int, Level] = {}
        self._reported: tuple[dict[int, int], dict[int, int]] = ({}, {})

    # -- queries -------------------------------------------------------------------------------------

    def best_bid(self) -> int | None:
        return -self._bid_heap[0] if self._bid_heap else None

    def best_ask(self) -> int | None:
        return self._ask_heap[0] if self._ask_heap else None

    def depth(self, n: int | None = None) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
        """(bids, asks) best first as (price, total lots): the top n levels per side, or all of them."""
        bids, asks = self._bids, self._asks
        if n is None:
            return [(p, bids[p].total) for p in sorted(bids, reverse=True)], [(p, asks[p].total) for p in sorted(asks)]
        return [(p, bids[p].total) for p in nlargest(n, bids)], [(p, asks[p].total) for p in nsmallest(n, asks)]

    def get(self, order_id: int) -> EngineOrder | None:
        return self._orders.get(order_id)

    def open_orders(self) -> Iterable[EngineOrder]:
        return list(self._orders.values())

    def drain_events(self) -> list[tuple]:
        events, self.events = self.events, []
        return events

    def changed_levels(self) -> dict[tuple[str, int], int]:
        """{(side, price): total} of the levels whose total differs from the last call's (0: gone)."""
        changed, sides = {}, zip(SIDES, (self._touched_bids, self._touched_asks), self._reported, strict=True)
        for side, touched, reported in sides:
            for price, level in touched.items():
                if reported.get(price, 0) != level.total:
                    changed[side, price] = reported[price] = level.total
                    if not level.total:
                        del reported[price]
            touched.clear()
        return changed

    # -- commands ------------------------------------------------------------------------------------

    def submit(self, order: EngineOrder) -> None:
        if order.status != "new" or order.id in self._orders:
            raise ValueError(f"order {order.id} is already known to the engine")
        kind = order.type
        if kind == "limit":
            self._limit(order)
        elif kind == "market":
            self._market(order)
        elif self._reached(order):
            self._trigger(order)
        else:
            self._seq += 1
            order.priority = self._seq
            self._arm(order)
            self.events.append(("arm", order))
        if self._buy_stops or self._sell_stops:
            self._run_stops()

    def cancel(self, order_id: int) -> bool:
        order = self._orders.pop(order_id, None)
        if order is None:
            return False
        order.status = "cancelled"
        self.events.append(("done", order, "cancelled", "cancelled"))
        if order.type != "limit" and not order.triggered:
            # An armed stop: its heap entry stays until popped, or until a rebuild once dead entries
            # are most of the heaps.
            self._dead_stops += 1
            if self._dead_stops > 64 and 2 * self._dead_stops > len(self._buy_stops) + len(self._sell_stops):
                for heap in (self._buy_stops, self._sell_stops):
                    heap[:] = [entry for entry in heap if entry[2].status == "new"]
                    heapify(heap)
                self._dead_stops = 0
            return True
        price, buy = order.price, order.side == "buy"
        level = (self._bids if buy else self._asks)[price]  # it rests, so its level is there
        level.total -= order.quantity - order.filled
        (self._touched_bids if buy else self._touched_asks)[price] = level
        if level.total == 0:  # gone: and if it was the best, pop stale keys until the heap's top is live
            book, heap, sign = (self._bids, self._bid_heap, -1) if buy else (self._asks, self._ask_heap, 1)
            del book[price]
            while heap and sign * heap[0] not in book:
                heappop(heap)
        else:
            level.dead += 1
            # Compact a queue that is mostly cancelled orders: at a level away from the touch, where
            # nothing reaches the front, churn would otherwise grow it without bound.
            if level.dead > 32 and 2 * level.dead > len(level):
                live = [o for o in level if o.status == "new"]
                level.clear()
                level.extend(live)
                level.dead = 0
        return True

    def restore(self, order: EngineOrder) -> None:
        """Reinstate an open order, without matching and without events: a resting limit (or triggered
        stop limit) with its persisted priority and filled, or an armed stop. Call in ascending
        priority; a stop whose condition already holds triggers after the next submit."""
        if order.status != "new" or order.id in self._orders:
            raise ValueError(f"order {order.id} is not an open order new to the engine")
        if order.priority <= 0:
            order.priority = self._seq + 1
        if order.type.startswith("stop_") and not order.triggered:
            self._arm(order)
        elif order.price is None or not (order.quantity or 0) > order.filled >= 0:
            raise ValueError(f"order {order.id} cannot rest: no price or nothing left")
        else:
            buy, price = order.side == "buy", order.price
            opposite = self.best_ask() if buy else self.best_bid()
            if opposite is not None and (price >= opposite if buy else price <= opposite):
                raise ValueError(f"order {order.id} would cross the book")
            level = (self._bids if buy else self._asks).get(price)
            if level is None:
                level = self._new_level(buy, price)
            if level and level[-1].priority > order.priority:  # out of order: keep the queue sorted
                level.insert(next(i for i, o in enumerate(level) if o.priority > order.priority), order)
            else:
                level.append(order)
            level.total += order.quantity - order.filled
            (self._touched_bids if buy else self._touched_asks)[price] = level
            self._orders[order.id] = order
        self._seq = max(self._seq, order.priority)

    # -- matching ------------------------------------------------------------------------------------

    def _limit(self, order: EngineOrder) -> None:
        """A limit order, or a triggered stop limit: match what it crosses, then rest or finish."""
        price = order.price
        if order.side == "buy":
            heap = self._ask_heap
            if heap and heap[0] <= price and self._cross(order):
                return
            book, touched = self._bids, self._touched_bids
        else:
            heap = self._bid_heap
            if heap and -heap[0] >= price and self._cross(order):
                return
            book, touched = self._asks, self._touched_asks
        tif = order.tif
        if tif == "gtc":  # rest: nothing it crosses is left
            self._seq = order.priority = self._seq + 1
            level = book.get(price)
            if level is None:
                level = self._new_level(order.side == "buy", price)
            level.append(order)
            level.total += order.quantity - order.filled
            touched[price] = level
            self._orders[order.id] = order
            self.events.append(("rest", order))
            return
        if tif == "fok":  # crossed nothing
            status, reason = "rejected", "fok_not_fillable"
        else:  # IOC: what did not fill at once expires, the whole order included
            status, reason = "expired", "ioc_remainder"
        order.status = status
        self.events.append(("done", order, status, reason))

    def _cross(self, order: EngineOrder) -> bool:
        """Match a limit order that crosses the book. True if that made it final; False: it goes on
        to rest or expire."""
        if order.post_only:
            status, reason = "rejected", "post_only_would_cross"
        elif order.tif == "fok" and not self._fillable(order, order.price):
            status, reason = "rejected", "fok_not_fillable"
        elif self._take(order, order.price) == _SELF_TRADE:
            status, reason = "expired", "self_trade"
        elif order.filled == order.quantity:
            status, reason = "filled", ""
        else:
            return False
        order.status = status
        self.events.append(("done", order, status, reason))
        return True

    def _market(self, order: EngineOrder) -> None:
        limit = self._collar(order.side == "buy")
        if order.tif == "fok" and not self._fillable(order, limit):
            status, reason = "rejected", "fok_not_fillable"
        else:
            why = self._take(order, limit)
            if why == _SELF_TRADE:
                status, reason = "expired", "self_trade"
            elif order.filled == 0:
                status, reason = "rejected", "no_liquidity"
            elif order.filled == order.quantity or (why == _NO_FUNDS and order.quantity is None):
                status, reason = "filled", ""
            elif why == _EXHAUSTED and limit is not None and (beyond := self._best_opposite(order.side)):
                # Stopped at the collar with liquidity beyond it; a buy by funds whose funds could not
                # buy a lot there anyway is filled, as without a collar.
                if order.quantity is None and order.funds - order.spent < beyond:
                    status, reason = "filled", ""
                else:
                    status, reason = "expired", "collar"
            else:
                status, reason = "expired", "ioc_remainder"
        order.status = status
        self.events.append(("done", order, status, reason))

    def _best_opposite(self, side: str) -> int | None:
        return self.best_ask() if side == "buy" else self.best_bid()

    def _collar(self, buy: bool) -> int | None:
        """The worst price a market order may trade at now, or None (no collar, or an empty side)."""
        ppm = self.collar_ppm
        if ppm is None:
            return None
        if buy:
            best = self.best_ask()
            return None if best is None else best * (PPM + ppm) // PPM
        best = self.best_bid()
        return None if best is None else max(1, -(-best * (PPM - ppm) // PPM))

    def _take(self, taker: EngineOrder, limit: int | None) -> int:
        """Match `taker` against the other side up to `limit` (None: any price); returns why it stopped.
        The hot loop: locals only, and the level's total updated once per level, not per fill."""
        if taker.side == "buy":
            book, heap, touched = self._asks, self._ask_heap, self._touched_asks
            sign = 1
        else:
            book, heap, touched = self._bids, self._bid_heap, self._touched_bids
            sign = -1
        bound = UNLIMITED if limit is None else sign * limit  # heap keys are sign * price
        events, orders = self.events, self._orders
        user, cancel_taker = taker.user_id, taker.stp == "cancel_taker"
        want = UNLIMITED if taker.quantity is None else taker.quantity - taker.filled
        money = None if taker.funds is None else taker.funds - taker.spent
        filled = spent = 0
        why = _EXHAUSTED
        while want and heap and heap[0] <= bound:
            price = sign * heap[0]
            room = want  # lots to take at this level
            if money is not None:
                room = money // price
                if room == 0:
                    why = _NO_FUNDS
                    break
                if room > want:
                    room = want
            level = book[price]
            cap = room
            while level:
                maker = level[0]
                if maker.status != "new":  # cancelled while queued
                    level.popleft()
                    level.dead -= 1
                    continue
                left = maker.quantity - maker.filled
                if maker.user_id == user:
                    if cancel_taker:
                        why = _SELF_TRADE
                        break
                    level.popleft()
                    level.total -= left
                    maker.status = "expired"
                    del orders[maker.id]
                    events.append(("done", maker, "expired", "self_trade"))
                    continue
                if left <= room:  # the maker is filled and leaves
                    level.popleft()
                    maker.filled += left
                    maker.spent += left * price
                    maker.status = "filled"
                    del orders[maker.id]
                    events.append(("fill", taker, maker, price, left))
                    events.append(("done", maker, "filled", ""))
                    room -= left
                    if room == 0:
                        break
                else:
                    maker.filled += room
                    maker.spent += room * price
                    events.append(("fill", taker, maker, price, room))
                    room = 0
                    break
            got = cap - room
            touched[price] = level
            level.total -= got
            if got:
                filled += got
                spent += got * price
                want -= got
                if money is not None:
                    money -= got * price
                self.last_price = price
            if level.total == 0:  # the level, the heap's top, is gone: pop it and the stale keys under it
                del book[price]
                heappop(heap)
                while heap and sign * heap[0] not in book:
                    heappop(heap)
            elif not level:  # lots counted but no order left: a bug, and looping on would never end
                raise RuntimeError(f"level {price} holds {level.total} lots in no order")
            if why == _SELF_TRADE:
                break
        taker.filled += filled
        taker.spent += spent
        return why

    def _fillable(self, order: EngineOrder, limit: int | None) -> bool:
        """FOK: would _take fill the order completely now, up to `limit`? A dry run over the same levels:
        other users' lots count, own ones are skipped (cancel_resting) or end the run (cancel_taker)."""
        buy = order.side == "buy"
        book = self._asks if buy else self._bids
        prices = sorted((p for p in book if limit is None or (p <= limit if buy else p >= limit)), reverse=not buy)
        beyond = len(prices) < len(book)  # levels past the limit (a collar): funds running out before them fill
        want = UNLIMITED if order.quantity is None else order.quantity - order.filled
        money = None if order.funds is None else order.funds - order.spent
        funds_only, got = order.quantity is None, 0
        for at, price in enumerate(prices):
            room = want - got if money is None else min(want - got, money // price)
            if room == 0:  # the funds cannot buy a lot here: the end of a funds-only buy
                return funds_only and got > 0
            took = own = 0  # lots it would take here, and lots of own orders it would expire on the way
            for maker in book[price]:
                if maker.status != "new":
                    continue
                left = maker.quantity - maker.filled
                if maker.user_id == order.user_id:
                    if order.stp == "cancel_taker":
                        return False
                    own += left
                    continue
                took = min(room, took + left)
                if took == room:
                    break
            got += took
            if got >= want:
                return True
            if took == room:  # the funds ran out here: complete if funds-only and an order is left to reach
                return funds_only and (book[price].total > took + own or at + 1 < len(prices) or beyond)
            if money is not None:
                money -= took * price
        return False

    def _new_level(self, buy: bool, price: int) -> Level:
        book, heap = (self._bids, self._bid_heap) if buy else (self._asks, self._ask_heap)
        level = book[price] = Level()
        level.price, level.total, level.dead = price, 0, 0
        heappush(heap, -price if buy else price)
        if len(heap) > 2 * len(book) + 64:  # mostly stale keys: rebuild from the live levels
            heap[:] = [-p for p in book] if buy else list(book)
            heapify(heap)
        return level

    # -- stops ---------------------------------------------------------------------------------------

    def _arm(self, order: EngineOrder) -> None:
        if order.side == "buy":
            heappush(self._buy_stops, (order.stop_price, order.priority, order))
        else:
            heappush(self._sell_stops, (-order.stop_price, order.priority, order))
        self._orders[order.id] = order

    def _reached(self, stop: EngineOrder) -> bool:
        last = self.last_price
        return last is not None and (last >= stop.stop_price if stop.side == "buy" else last <= stop.stop_price)

    def _trigger(self, stop: EngineOrder) -> None:
        stop.triggered = True
        self.events.append(("trigger", stop))
        if stop.type == "stop_limit":
            self._limit(stop)
        else:
            self._market(stop)

    def _run_stops(self) -> None:
        """Rounds: pop every armed stop whose condition holds, run them oldest arm first; until none.
        Called after every submit while stops are armed, so the common case (none) returns at once."""
        buys, sells, orders = self._buy_stops, self._sell_stops, self._orders
        while True:
            last = self.last_price
            if last is None or not ((buys and buys[0][0] <= last) or (sells and -sells[0][0] >= last)):
                return
            popped = []
            while buys and buys[0][0] <= last:
                popped.append(heappop(buys)[2])
            while sells and -sells[0][0] >= last:
                popped.append(heappop(sells)[2])
            batch = sorted((s for s in popped if s.status == "new"), key=lambda s: s.priority)
            self._dead_stops -= len(popped) - len(batch)  # cancelled ones, counted by cancel()
            for stop in batch:
                del orders[stop.id]
                self._trigger(stop)
