"""Market writes: listing a market, changing its limits, halting and resuming it, the kill switch.

A halt is written to the market row (order entry reads it under a share lock, so no order is accepted
once a halt has committed) and sent to the market's command stream, so that the matcher stops
matching new orders at that point of the stream (and a replay stops at the same point)."""

from __future__ import annotations

from decimal import Decimal

from django.db import transaction

from apps.core import audit
from apps.markets import streams
from apps.markets.models import CIRCUIT_BREAKER, KILL_SWITCH, Market
from apps.wallets import ledger
from apps.wallets.halts import halt_withdrawals, resume_withdrawals
from apps.wallets.models import Account, Currency


@transaction.atomic
def create_market(
    *, base: str, quote: str, tick_size: Decimal, lot_size: Decimal, min_notional: Decimal = Decimal(0),
    maker_fee: Decimal = Decimal("0.001"), taker_fee: Decimal = Decimal("0.002"), actor=None, **limits,
) -> Market:  # fmt: skip
    """List BASE-QUOTE. Validates the filters against both currencies' precision (full_clean) and
    creates the fee accounts the matcher credits. Raises ValidationError; changes nothing then."""
    market = Market(
        symbol=f"{base}-{quote}", base=Currency.objects.get(pk=base), quote=Currency.objects.get(pk=quote),
        tick_size=tick_size, lot_size=lot_size, min_notional=min_notional, maker_fee=maker_fee, taker_fee=taker_fee,
        **{name: limits[name] for name in LIMIT_FIELDS if name in limits},
    )  # fmt: skip
    market.full_clean()
    market.save()
    for code in (base, quote):
        ledger.system_account(Account.Kind.FEES, code)
    audit.record(actor=actor, action="market.created", target=market, symbol=market.symbol)
    return market


LIMIT_FIELDS = ("max_order_quantity", "max_order_notional", "price_band", "max_open_orders", "market_order_collar",
                "breaker_move", "breaker_window_seconds", "breaker_cooldown_seconds")  # fmt: skip
EDITABLE_FIELDS = ("min_notional", "maker_fee", "taker_fee", *LIMIT_FIELDS)


@transaction.atomic
def update_market(*, market: Market, changes: dict, actor=None) -> Market:
    """Change a market's filters, fees or risk limits (not its tick and lot: open orders are in
    those units). Validated like a new market; every change goes to the audit log with old and new."""
    unknown = set(changes) - set(EDITABLE_FIELDS)
    if unknown:
        raise ValueError(f"not editable: {', '.join(sorted(unknown))}")
    market = Market.objects.select_for_update().get(pk=market.pk)
    before = {name: getattr(market, name) for name in changes}
    for name, value in changes.items():
        setattr(market, name, value)
    market.full_clean()
    market.save(update_fields=[*changes, "updated_at"])
    changed = {name: {"from": _text(before[name]), "to": _text(changes[name])} for name in changes
               if before[name] != changes[name]}  # fmt: skip
    if changed:
        audit.record(actor=actor, action="market.updated", target=market, changes=changed)
    return market


def _text(value) -> str | None:
    return None if value is None else f"{value}"


@transaction.atomic
def set_status(*, market: Market, status: str, reason: str = "", actor=None) -> Market:
    """Halt or resume a market. New orders are refused while halted; cancels still go through. A
    resume also ends a circuit-breaker halt before its cool-down."""
    market = Market.objects.select_for_update().get(pk=market.pk)
    # A halt by staff also takes over a circuit-breaker halt: it then lasts until staff resume it.
    if market.status != status or (status == Market.Status.HALTED and market.status_reason == CIRCUIT_BREAKER):
        audit.record(actor=actor, action=f"market.{status}", target=market, reason=reason)
        _set(market, status, reason or ("halted by staff" if status == Market.Status.HALTED else ""))  # last
    return market


def _set(market: Market, status: str, reason: str) -> None:
    """Write the status (in the caller's transaction) and send the matcher its command.

    A halt is sent after the commit: an order accepted before it may reach the stream after the halt
    and be rejected, but none accepted after the halt is matched. A resume is sent before the commit:
    orders accepted once the resume has committed then always come after it in the stream (sent
    after, it could land behind them and they would be rejected). If the commit then fails, or the
    send does, the matcher's sweep brings its state back to the market row's."""
    market.status, market.status_reason, market.halted_until = status, reason, None
    market.save(update_fields=["status", "status_reason", "halted_until", "updated_at"])
    symbol = market.symbol
    if status == Market.Status.HALTED:
        transaction.on_commit(lambda: streams.send(symbol, "halt", 0, reason=reason))
    else:
        streams.send(symbol, "resume", 0)


def engage_kill_switch(*, reason: str, actor, via: str = "admin") -> dict:
    """Halt every trading market and every currency's withdrawals at once, in one transaction, with
    who and why in the audit log. Markets already halted keep their own reason (and stay halted when
    the switch is released). Returns what it halted."""
    reason = (reason or "").strip()
    if not reason:
        raise ValueError("The kill switch needs a reason.")
    with transaction.atomic():
        # The currencies first: their locks may wait for a withdrawal that is talking to its chain
        # node, and order entry must not wait that long behind market rows held here.
        currencies = halt_withdrawals(currencies=None, reason=KILL_SWITCH, actor=actor)
        # FOR UPDATE in id order: waits for every order entry holding its share lock on a market row
        # (apps.orders.services), and makes every later one wait for this commit and see the halt.
        halted = []
        for market in Market.objects.select_for_update().order_by("pk"):
            if market.status == Market.Status.TRADING or market.status_reason == CIRCUIT_BREAKER:
                _set(market, Market.Status.HALTED, KILL_SWITCH)
                halted.append(market.symbol)
        event = audit.record_global(actor=actor, action="kill_switch.engaged", subject=KILL_SWITCH, reason=reason,
                                    markets=halted, currencies=currencies, via=via)  # fmt: skip
    return {"markets": halted, "currencies": currencies, "audit_id": event.pk}


def release_kill_switch(*, reason: str, actor, via: str = "admin") -> dict:
    """Resume what the kill switch halted (markets and withdrawals halted with reason `kill_switch`);
    what staff halted for another reason stays halted."""
    reason = (reason or "").strip()
    if not reason:
        raise ValueError("Releasing the kill switch needs a reason.")
    with transaction.atomic():
        currencies = resume_withdrawals(currencies=None, actor=actor, only_reason=KILL_SWITCH, reason=reason)
        markets = [m for m in Market.objects.select_for_update().order_by("pk")
                   if m.status == Market.Status.HALTED and m.status_reason == KILL_SWITCH]  # fmt: skip
        resumed = [market.symbol for market in markets]
        event = audit.record_global(actor=actor, action="kill_switch.released", subject=KILL_SWITCH, reason=reason,
                                    markets=resumed, currencies=currencies, via=via)  # fmt: skip
        for market in markets:  # last: each sends its `resume` just before the commit (see _set)
            _set(market, Market.Status.TRADING, "")
    return {"markets": resumed, "currencies": currencies, "audit_id": event.pk}
