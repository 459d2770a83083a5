"""The matching engine in process: how many order-book commands one core applies per second.

Workload: 1,000,000 commands pre-generated (not timed) with random.Random(7), 1,000 users, mid price
10,000 ticks:
- ~60% limit orders, 1..100 lots, buy or sell; priced mid -/+ (1 + |gauss(0, 20)|) ticks on their
  own side of the mid (a book that builds up), except 15% priced as far across it (they take);
- ~10% market orders, 1..100 lots (a fifth of the buys by funds instead: 1..100 lots' worth at mid);
- ~30% cancels, each of an order picked at random among those resting at that moment (found by
  applying the stream to a scratch engine while generating it), so that every cancel finds its order.
The book grows to about 40,000 resting orders over ~150 levels; about 360,000 fills happen.
Only the engine calls are timed: submit/cancel, and per batch of 1,000 commands drain_events() and
changed_levels() as the matching worker does; fills are counted from the drained events afterwards.
The pre-generated orders are moved out of the collector's reach (gc.freeze) so that the benchmark's own
million objects do not make collections slower than they would be in a worker, which creates each
order just before submitting it.
"""

from __future__ import annotations

import gc
import random
import time

from bench.common import Figure

N = 1_000_000
BATCH = 1_000
MID = 10_000
AGGRESSIVE = 0.15


def _commands(engine, rng: random.Random) -> list[tuple]:
    """The command stream, bound to `engine`. Cancels pick among the orders resting at that point,
    learnt by applying the stream to a scratch engine while generating it (the engine is
    deterministic, so the timed run sees the same book)."""
    from apps.matching.engine import Engine, EngineOrder

    scratch, specs, resting = Engine(), [], []  # resting: ids that may still rest in the scratch engine
    for order_id in range(1, N + 1):
        roll = rng.random()
        side = "buy" if rng.random() < 0.5 else "sell"
        user = rng.randrange(1_000)
        if roll < 0.6:
            # Passive (below the mid for a buy, above it for a sell), but one in AGGRESSIVE across it.
            offset = round(abs(rng.gauss(0, 20))) + 1
            if rng.random() < AGGRESSIVE:
                offset = -offset
            price = MID - offset if side == "buy" else MID + offset
            spec = (order_id, user, side, "limit", price, rng.randint(1, 100), None)
        elif roll < 0.7:
            by_funds = side == "buy" and rng.random() < 0.2
            funds = rng.randint(1, 100) * MID if by_funds else None
            spec = (order_id, user, side, "market", None, None if by_funds else rng.randint(1, 100), funds)
        else:
            while resting:
                at = rng.randrange(len(resting))
                resting[at], resting[-1] = resting[-1], resting[at]
                if scratch.get(resting[-1]) is not None:
                    break
                resting.pop()  # filled meanwhile
            if resting:
                specs.append(resting[-1])
                scratch.cancel(resting.pop())
            continue
        specs.append(spec)
        scratch.submit(EngineOrder(*spec))
        if scratch.get(order_id) is not None:
            resting.append(order_id)
        scratch.drain_events()
    submit, cancel = engine.submit, engine.cancel
    return [(cancel, spec) if type(spec) is int else (submit, EngineOrder(*spec)) for spec in specs]


def run() -> list[Figure]:
    from apps.matching.engine import Engine

    engine = Engine()
    commands = _commands(engine, random.Random(7))
    gc.collect()
    gc.freeze()
    elapsed, fills = 0.0, 0
    try:
        for start in range(0, len(commands), BATCH):
            batch = commands[start : start + BATCH]
            started = time.perf_counter()
            for command, argument in batch:
                command(argument)
            events = engine.drain_events()
            engine.changed_levels()
            elapsed += time.perf_counter() - started
            fills += sum(1 for event in events if event[0] == "fill")
    finally:
        gc.unfreeze()
    return [
        Figure("engine: mixed ops", len(commands) / elapsed, "ops/s"),
        Figure("engine: fills", fills / elapsed, "fills/s"),
    ]
