"""The matching engine: one market's order book, in pure Python (no Django, no clock, no I/O).

Units are integers only: prices in ticks, quantities in lots, notional in ticks * lots. Decimal
conversion, persistence and balances belong to the caller (the settlement layer), which feeds
commands in one at a time and reads the events the engine appends to `events`.

Rules
- Price-time priority: best price first, then FIFO by `priority` (a counter stamped when an order
  rests). A fill is at the maker's price.
- GTC limit remainders rest; IOC remainders expire ("ioc_remainder", or rejected "no_liquidity"
  when nothing filled). Market orders behave as IOC, except that FOK is honoured.
- Post-only: rejected ("post_only_would_cross") if the best opposite price crosses its limit.
- FOK: fillable lots are counted first (other users' orders only, within the limit and funds);
  short of the quantity it is rejected ("fok_not_fillable") and nothing at all changes.
- Market buy by funds: at each level take min(level lots, quantity left, funds left // price). A
  funds-only buy is "filled" when funds cannot buy one more lot at the next maker's price; if the
  book runs out first it expires ("ioc_remainder"). With a quantity too, running out of funds
  expires it.
- Self-trade prevention: no fill between orders of the same user ever happens. The taker's `stp`
  decides: "cancel_resting" expires the maker ("self_trade") and matching goes on; "cancel_taker"
  expires the taker and matching stops.
- Stops: a buy stop triggers when last_price >= stop_price, a sell stop when last_price <=
  stop_price (never while last_price is None). The check runs after each command; stops triggered
  by one check are processed oldest arm first, each as a new order, and their fills may trigger
  more stops in a further round. A stop whose condition holds on submission triggers at once.

Guarantees
- Level totals are exact at all times; cancel is O(1) (lazy removal from the level queue).
- A "done" event is emitted once per order, and a done order appears in no later event.
- The book at rest is never crossed: best_bid() < best_ask().
- Deterministic: the same commands give the same events (only ints and strs are hashed).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from heapq import heapify, heappop, heappush, nlargest, nsmallest

SIDES = ("buy", "sell")
TYPES = ("limit", "market", "stop_limit", "stop_market")
TIFS = ("gtc", "ioc", "fok")
STPS = ("cancel_resting", "cancel_taker")
UNLIMITED = 1 << 62  # "quantity left" of a funds-only market buy: the funds are the only cap

# Why a taker's matching stopped (returned by Engine._take).
_EXHAUSTED = 0  # quantity filled, limit price reached or book empty
_NO_FUNDS = 1  # funds cannot buy one more lot at the next maker's price
_SELF_TRADE = 2  # met its own order under cancel_taker


def _is_tick(value: object) -> bool:
    return type(value) is int and value >= 1


class EngineOrder:
    """An order as the engine sees it. The engine updates `filled`, `spent`, `priority`, `status` and
    `triggered` in place; `ref` belongs to the caller and is never read."""

    __slots__ = (
        *("id", "user_id", "side", "type", "price", "quantity", "funds", "stop_price", "tif", "post_only", "stp"),
        *("timestamp", "ref", "filled", "spent", "priority", "status", "triggered", "_level"),
    )

    def __init__(
        self,
        id: int,  # the spec's field names, builtins shadowed on purpose
        user_id: int,
        side: str,
        type: str,
        price: int | None = None,
        quantity: int | None = None,
        funds: int | None = None,
        stop_price: int | None = None,
        tif: str = "gtc",
        post_only: bool = False,
        stp: str = "cancel_resting",
        timestamp: int = 0,
        ref: object = None,
        *,
        filled: int = 0,
        spent: int = 0,
        priority: int = 0,
        status: str = "new",
        triggered: bool = False,
    ):
        self.id, self.user_id, self.side, self.type = id, user_id, side, type
        self.price, self.quantity, self.funds, self.stop_price = price, quantity, funds, stop_price
        self.tif, self.post_only, self.stp, self.timestamp, self.ref = tif, post_only, stp, timestamp, ref
        self.filled, self.spent, self.priority, self.status, self.triggered = filled, spent, priority, status, triggered
        self._level = None  # the Level it rests in; None while not resting
        problem = self._problem()
        if problem:
            raise ValueError(f"order {id}: {problem}")

    def _problem(self) -> str:
        """Why these fields cannot make an order, or "" (checked once, so the engine can trust them)."""
        if self.side not in SIDES or self.type not in TYPES or self.tif not in TIFS or self.stp not in STPS:
            return "unknown side, type, tif or stp"
        limit_type = self.type in ("limit", "stop_limit")
        if limit_type != _is_tick(self.price) or (not limit_type and self.price is not None):
            return "limit types need a price >= 1, market types none"
        if self.type.startswith("stop_") != _is_tick(self.stop_price) or (
            self.stop_price is not None and not self.type.startswith("stop_")
        ):
            return "stop types need a stop_price >= 1, other types none"
        if self.funds is not None and (self.side != "buy" or limit_type or not _is_tick(self.funds)):
            return "funds (>= 1) are for market buys only"
        if not (_is_tick(self.quantity) or (self.quantity is None and self.funds is not None)):
            return "quantity must be >= 1 (only a market buy by funds may omit it)"
        if self.post_only and not limit_type:
            return "post_only is for limit types only"
        return ""

    @property
    def remaining(self) -> int | None:
        return None if self.quantity is None else self.quantity - self.filled

    def __repr__(self) -> str:
        return f"<EngineOrder {self.id} {self.side} {self.type} {self.quantity}@{self.price} {self.status}>"


class Level(deque):
    """One price level: its orders in time priority (a FIFO queue) and the exact sum of their remaining
    lots. Cancelled orders stay queued (cancel is O(1)) and are dropped when they reach the front."""

    __slots__ = ("dead", "price", "total")

    def __init__(self, price: int):  # deque.__new__ made it empty; deque.__init__ would only clear it
        self.price = price
        self.total = 0
        self.dead = 0  # cancelled orders still queued


class Engine:
    def __init__(self, last_price: int | None = None):
        self.last_price = last_price
        self.events: list[tuple] = []
        # Levels by price, and a heap of their keys for the best price: asks by price, bids by -price.
        # Invariant: the heap's top is always a live level; entries below it may be stale (removed
        # levels), they are skipped once they surface and dropped when the heap is rebuilt.
        self._bids: dict[int, Level] = {}
        self._asks: dict[int, Level] = {}
        self._bid_heap: list[int] = []
        self._ask_heap: list[int] = []
        # Armed stops as (stop_price, priority, order), buys by stop_price, sells by -stop_price;
        # cancelled ones are skipped when popped.
        self._buy_stops: list[tuple[int, int, EngineOrder]] = []
        self._sell_stops: list[tuple[int, int, EngineOrder]] = []
        self._dead_stops = 0
        self._orders: dict[int, EngineOrder] = {}  # open orders: resting and armed
        self._seq = 0  # last priority given out
        # Levels touched since changed_levels(), and the totals it last reported.
        self._touched_bids: dict[int, Level] = {}
        self._touched_asks: dict[int, Level] = {}
        self._reported: tuple[dict[int, int], dict[int, int]] = ({}, {})  # (bids, asks): price -> total

    # -- queries -------------------------------------------------------------------------------

    def best_bid(self) -> int | None:
        return -self._bid_heap[0] if self._bid_heap else None

    def best_ask(self) -> int | None:
        return self._ask_heap[0] if self._ask_heap else None

    def depth(self, n: int) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
        bids, asks = self._bids, self._asks
        return [(p, bids[p].total) for p in nlargest(n, bids)], [(p, asks[p].total) for p in nsmallest(n, asks)]

    def get(self, order_id: int) -> EngineOrder | None:
        return self._orders.get(order_id)

    def open_orders(self) -> Iterable[EngineOrder]:
        return list(self._orders.values())

    def drain_events(self) -> list[tuple]:
        events, self.events = self.events, []
        return events

    def changed_levels(self) -> dict[tuple[str, int], int]:
        """{(side, price): total} of the levels whose total differs from the last call (0: gone)."""
        changed, touched_sides = {}, (self._touched_bids, self._touched_asks)
        for side, touched, reported in zip(SIDES, touched_sides, self._reported, strict=True):
            for price, level in touched.items():
                total = level.total
                if reported.get(price, 0) != total:
                    changed[side, price] = total
                    if total:
                        reported[price] = total
                    else:
                        del reported[price]
            touched.clear()
        return changed

    # -- commands ------------------------------------------------------------------------------

    def submit(self, order: EngineOrder) -> None:
        if order.status != "new" or order.id in self._orders:
            raise ValueError(f"order {order.id} is already known to the engine")
        kind = order.type
        if kind == "limit":
            self._limit(order)
        elif kind == "market":
            self._market(order)
        elif self._stop_reached(order):
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
        level = order._level
        if level is None:  # an armed stop: its heap entry stays, counted for the next rebuild
            self._dead_stops += 1
            if self._dead_stops > 64 and 2 * self._dead_stops > len(self._buy_stops) + len(self._sell_stops):
                self._rebuild_stops()
            return True
        price = level.price
        level.total -= order.quantity - order.filled
        buy = order.side == "buy"
        (self._touched_bids if buy else self._touched_asks)[price] = level
        if level.total == 0:
            self._drop_level(buy, price)
        else:
            level.dead += 1
            # Compact a queue made mostly of cancelled orders, so that churn at a level away from the
            # touch (where nothing reaches the front) cannot grow it without bound.
            if level.dead > 32 and 2 * level.dead > len(level):
                live = [o for o in level if o.status == "new"]
                level.clear()
                level.extend(live)
                level.dead = 0
        return True

    def restore(self, order: EngineOrder) -> None:
        """Reinstate an open order, without matching and without events: a resting limit (priority
        and filled as persisted) or an armed stop (not triggered). Call in ascending priority."""
        if order.status != "new" or order.id in self._orders:
            raise ValueError(f"order {order.id} is not an open order new to the engine")
        if order.type.startswith("stop_") and not order.triggered:
            if order.priority <= 0:
                order.priority = self._seq + 1
            self._arm(order)
        elif order.price is None or not (order.quantity or 0) > order.filled >= 0:
            raise ValueError(f"order {order.id} cannot rest: no price or nothing left")
        else:
            buy = order.side == "buy"
            opposite = self.best_ask() if buy else self.best_bid()
            if opposite is not None and (order.price >= opposite if buy else order.price <= opposite):
                raise ValueError(f"order {order.id} would cross the book")
            if order.priority <= 0:
                order.priority = self._seq + 1
            level = (self._bids if buy else self._asks).get(order.price)
            if level is None:
                level = self._new_level(buy, order.price)
            if level and level[-1].priority > order.priority:  # out of order: keep the FIFO sorted
                level.insert(next(i for i, o in enumerate(level) if o.priority > order.priority), order)
            else:
                level.append(order)
            level.total += order.quantity - order.filled
            (self._touched_bids if buy else self._touched_asks)[order.price] = level
            order._level = level
            self._orders[order.id] = order
        self._seq = max(self._seq, order.priority)

    # -- internals -----------------------------------------------------------------------------

    def _limit(self, order: EngineOrder) -> None:
        """A limit order, or a triggered stop limit: match what it crosses, then rest or finish."""
        price, tif = order.price, order.tif
        if order.side == "buy":
            heap, book, touched = self._ask_heap, self._bids, self._touched_bids
            crosses = heap and heap[0] <= price
        else:
            heap, book, touched = self._bid_heap, self._asks, self._touched_asks
            crosses = heap and -heap[0] >= price
        status = reason = None
        if crosses:
            if order.post_only:
                status, reason = "rejected", "post_only_would_cross"
            elif tif == "fok" and not self._fillable(order):
                status, reason = "rejected", "fok_not_fillable"
            elif self._take(order, price) == _SELF_TRADE:
                status, reason = "expired", "self_trade"
            elif order.filled == order.quantity:
                status, reason = "filled", ""
        if status is None:
            if tif == "gtc":  # rest: matching left nothing it could cross
                self._seq = seq = self._seq + 1
                order.priority = seq
                level = book.get(price)
                if level is None:
                    level = self._new_level(order.side == "buy", price)
                level.append(order)
                level.total += order.quantity - order.filled
                touched[price] = level
                order._level = level
                self._orders[order.id] = order
                self.events.append(("rest", order))
                return
            if tif == "fok":  # crossed nothing
                status, reason = "rejected", "fok_not_fillable"
            elif order.filled:
                status, reason = "expired", "ioc_remainder"
            else:
                status, reason = "rejected", "no_liquidity"
        order.status = status
        self.events.append(("done", order, status, reason))

    def _market(self, order: EngineOrder) -> None:
        if order.tif == "fok" and not self._fillable(order):
            status, reason = "rejected", "fok_not_fillable"
        else:
            why = self._take(order, None)
            if why == _SELF_TRADE:
                status, reason = "expired", "self_trade"
            elif order.filled == 0:
                status, reason = "rejected", "no_liquidity"
            elif order.filled == order.quantity or (why == _NO_FUNDS and order.quantity is None):
                status, reason = "filled", ""
            else:
                status, reason = "expired", "ioc_remainder"
        order.status = status
        self.events.append(("done", order, status, reason))

    def _take(self, taker: EngineOrder, limit: int | None) -> int:
        """Match `taker` against the opposite side up to `limit` (None: any price); returns why it stopped."""
        if taker.side == "buy":
            book, heap, touched = self._asks, self._ask_heap, self._touched_asks
            sign = 1
        else:
            book, heap, touched = self._bids, self._bid_heap, self._touched_bids
            sign = -1
        bound = UNLIMITED if limit is None else sign * limit  # heap keys are sign * price
        events, orders = self.events, self._orders
        user, cancel_taker = taker.user_id, taker.stp == "cancel_taker"
        quantity, funds = taker.quantity, taker.funds
        want = UNLIMITED if quantity is None else quantity - taker.filled
        money = None if funds is None else funds - taker.spent
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
                if left <= room:  # the maker is filled and leaves the queue
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
            if level.total == 0:  # the level (the heap's top) is gone: pop it and any stale keys under it
                del book[price]
                heappop(heap)
                while heap and sign * heap[0] not in book:
                    heappop(heap)
            if why == _SELF_TRADE:
                break
        taker.filled += filled
        taker.spent += spent
        return why

    def _fillable(self, order: EngineOrder) -> bool:
        """FOK check, a dry run of _take: would matching now fill the order completely? Only other
        users' lots count, and none beyond an own order under cancel_taker (matching stops there)."""
        buy = order.side == "buy"
        book, limit = (self._asks if buy else self._bids), order.price
        prices = sorted((p for p in book if limit is None or (p <= limit if buy else p >= limit)), reverse=not buy)
        want = UNLIMITED if order.quantity is None else order.quantity - order.filled
        money = None if order.funds is None else order.funds - order.spent
        funds_only, got = order.quantity is None, 0
        for at, price in enumerate(prices):
            room = want - got if money is None else min(want - got, money // price)
            if room == 0:  # funds cannot buy a lot at the next price: the end of a funds-only buy
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
            if took == room:  # the funds ran out here: complete if funds-only and any order is left to reach
                return funds_only and (book[price].total > took + own or at + 1 < len(prices))
            if money is not None:
                money -= took * price
        return False

    def _new_level(self, buy: bool, price: int) -> Level:
        """An empty level at `price`, in the book and its key on the heap."""
        book, heap = (self._bids, self._bid_heap) if buy else (self._asks, self._ask_heap)
        level = book[price] = Level(price)
        heappush(heap, -price if buy else price)
        if len(heap) > 2 * len(book) + 64:  # too many stale keys: rebuild from the live levels
            heap[:] = [-p for p in book] if buy else list(book)
            heapify(heap)
        return level

    def _drop_level(self, buy: bool, price: int) -> None:
        """Remove an emptied level, then pop stale keys until the heap's top is live again."""
        book, heap = (self._bids, self._bid_heap) if buy else (self._asks, self._ask_heap)
        del book[price]
        sign = -1 if buy else 1
        while heap and sign * heap[0] not in book:
            heappop(heap)

    def _stop_reached(self, order: EngineOrder) -> bool:
        last = self.last_price
        if last is None:
            return False
        return last >= order.stop_price if order.side == "buy" else last <= order.stop_price

    def _arm(self, order: EngineOrder) -> None:
        if order.side == "buy":
            heappush(self._buy_stops, (order.stop_price, order.priority, order))
        else:
            heappush(self._sell_stops, (-order.stop_price, order.priority, order))
        self._orders[order.id] = order

    def _rebuild_stops(self) -> None:
        for heap in (self._buy_stops, self._sell_stops):
            heap[:] = [entry for entry in heap if entry[2].status == "new"]
            heapify(heap)
        self._dead_stops = 0

    def _trigger(self, stop: EngineOrder) -> None:
        stop.triggered = True
        self.events.append(("trigger", stop))
        if stop.type == "stop_limit":
            self._limit(stop)
        else:
            self._market(stop)

    def _run_stops(self) -> None:
        """Trigger every armed stop whose condition holds, oldest arm first; repeat while their fills
        trigger more."""
        buys, sells, orders = self._buy_stops, self._sell_stops, self._orders
        while self.last_price is not None:
            last = self.last_price
            batch = []
            while buys and buys[0][0] <= last:
                batch.append(heappop(buys)[2])
            while sells and -sells[0][0] >= last:
                batch.append(heappop(sells)[2])
            live = [s for s in batch if s.status == "new"]  # cancelled ones were counted by cancel()
            self._dead_stops -= len(batch) - len(live)
            batch = live
            if not batch:
                return
            batch.sort(key=lambda s: s.priority)
            for stop in batch:
                del orders[stop.id]
                self._trigger(stop)
