"""Whether a market's matcher lets new orders in: staff halts, the kill switch and the price circuit
breaker, decided from command times only (pure Python: no Django, no clock, no I/O).

Time is the millisecond part of each command's Redis stream id, stamped by Redis when the order's
command was added after its acceptance. Replaying the same stream after a crash gives the same times,
so the same trips, halts and resumes; a clock read here would not.

The breaker: every trade price is compared with the lowest and the highest price traded in the last
`window_ms` (kept as one (second, low, high) bucket per second, so its state is at most one entry per
second of the window whatever the trade rate). A price more than `move_ppm` above the low or below
the high trips it: the market halts with reason `circuit_breaker` after the command that traded it
(that command completes: its fills are settled), until `time + cooldown_ms` (None: until a staff
resume). New orders meet the halt as `rejected` with reason `market_halted`; cancels still apply. The
first new order stamped at or after the cool-down's end resumes the market, and so does a `resume`
command (the matcher sends one when the cool-down ends and no order arrives). A resume starts a fresh
window. Configuration changes (move, window, cool-down) are not in the stream: a replay uses the
configuration of the moment, so it decides the same as long as nobody changed it in between.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

PPM = 1_000_000
CIRCUIT_BREAKER = "circuit_breaker"


@dataclass
class BreakerConfig:
    move_ppm: int  # a move larger than this, in millionths of the reference price, trips
    window_ms: int
    cooldown_ms: int | None  # None: only a staff resume ends the halt


@dataclass
class Gate:
    config: BreakerConfig | None = None
    reason: str = ""  # why the market is halted; "" while trading
    until_ms: int | None = None  # a breaker halt's end
    buckets: deque = field(default_factory=deque)  # [second, low, high], oldest first
    # (status, reason, until_ms, time_ms, source): source "breaker" (a trip), "cooldown" (its end) or "staff"
    changes: list[tuple[str, str, int | None, int, str]] = field(default_factory=list)

    # -- state kept with the market's cursor ----------------------------------------------------------

    def dump(self) -> dict:
        return {"reason": self.reason, "until_ms": self.until_ms, "window": [list(b) for b in self.buckets]}

    @classmethod
    def load(cls, saved: dict | None, config: BreakerConfig | None) -> Gate:
        saved = saved or {}
        return cls(config=config, reason=saved.get("reason", ""), until_ms=saved.get("until_ms"),
                   buckets=deque(list(b) for b in saved.get("window", ())))  # fmt: skip

    # -- decisions -------------------------------------------------------------------------------------

    def admits(self, time_ms: int) -> bool:
        """May a new order stamped `time_ms` match? Ends a breaker halt whose cool-down is over."""
        if not self.reason:
            return True
        if self.reason == CIRCUIT_BREAKER and self.until_ms is not None and time_ms >= self.until_ms:
            self._resume(time_ms, "cooldown")
            return True
        return False

    def halt(self, reason: str, time_ms: int) -> None:
        """A staff halt or the kill switch: until a resume, whatever the breaker says."""
        if self.reason != reason or self.until_ms is not None:
            self.reason, self.until_ms = reason or "halted", None
            self.changes.append(("halted", self.reason, None, time_ms, "staff"))

    def resume(self, time_ms: int, *, cooldown: bool = False) -> None:
        """A staff resume lifts any halt; the matcher's own cool-down resume only a breaker halt that
        has run its time (a staff halt since then stands)."""
        if not self.reason:
            return
        if cooldown and not (self.reason == CIRCUIT_BREAKER and self.until_ms is not None
                             and time_ms >= self.until_ms):  # fmt: skip
            return
        self._resume(time_ms, "cooldown" if cooldown else "staff")

    def trades(self, time_ms: int, prices: list[int]) -> None:
        """Record a command's trade prices (ticks, in order); trip if one moved too far."""
        config = self.config
        if config is None or not prices:
            return
        buckets, second = self.buckets, time_ms // 1000
        oldest = (time_ms - config.window_ms) // 1000  # buckets at or before this second are out
        while buckets and buckets[0][0] <= oldest:
            buckets.popleft()
        low = min((b[1] for b in buckets), default=None)
        high = max((b[2] for b in buckets), default=None)
        tripped = False
        for price in prices:
            if low is not None and (price * PPM > low * (PPM + config.move_ppm)
                                    or price * PPM < high * (PPM - config.move_ppm)):  # fmt: skip
                tripped = True
                break
            low = price if low is None else min(low, price)
            high = price if high is None else max(high, price)
            if buckets and buckets[-1][0] == second:
                last = buckets[-1]
                last[1], last[2] = min(last[1], price), max(last[2], price)
            else:
                buckets.append([second, price, price])
        if tripped and not self.reason:
            self.reason = CIRCUIT_BREAKER
            self.until_ms = None if config.cooldown_ms is None else time_ms + config.cooldown_ms
            self.buckets.clear()
            self.changes.append(("halted", CIRCUIT_BREAKER, self.until_ms, time_ms, "breaker"))

    def _resume(self, time_ms: int, source: str) -> None:
        self.reason, self.until_ms = "", None
        self.buckets.clear()
        self.changes.append(("trading", "", None, time_ms, source))

    def drain_changes(self) -> list[tuple[str, str, int | None, int, str]]:
        changes, self.changes = self.changes, []
        return changes
